"""The replication endpoints' batched forms (``/replication/v1/batch/...``): one signed
request pauses, seals, promotes, resumes or reads many tenants of this site.

An evacuation moves hundreds of tenants off a site; one request (and one worker-thread
hop) per tenant and step was most of its time. Each tenant still gets its own answer —
its state, or its own error — exactly as its single-tenant endpoint would give it, so
the mover keeps every per-tenant safety check (docs/failover.md, "Planned moves").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Annotated, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yui.errors import YuiError

#: the most tenants one batched request may name
MAX_TENANTS = 1000

T = TypeVar("T")
TenantCode = Annotated[str, Field(pattern=r"^\d{6}$", description="自治体コード / tenant code")]


class TenantsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: list[TenantCode] = Field(min_length=1, max_length=MAX_TENANTS)

    @model_validator(mode="after")
    def _once(self) -> Self:
        if len(set(self.tenants)) != len(self.tenants):
            raise ValueError("each tenant may appear once")
        return self


class PauseManyIn(TenantsIn):
    """As ``PauseIn``, for every tenant named."""

    ttl_seconds: float = Field(default=10.0, gt=0, le=120)
    wait_seconds: float = Field(default=5.0, gt=0, le=60)


class EpochIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: TenantCode
    epoch: int = Field(ge=1)


class EpochsIn(BaseModel):
    """Seal or promote each tenant at its own epoch."""

    model_config = ConfigDict(extra="forbid")

    items: list[EpochIn] = Field(min_length=1, max_length=MAX_TENANTS)

    @model_validator(mode="after")
    def _once(self) -> Self:
        if len({item.tenant for item in self.items}) != len(self.items):
            raise ValueError("each tenant may appear once")
        return self

    def epochs(self) -> dict[str, int]:
        return {item.tenant: item.epoch for item in self.items}


class Outcome(BaseModel, Generic[T]):
    """One tenant's answer: ``result`` (status 200), or the error its single-tenant
    endpoint would have answered (``status``, ``detail``)."""

    tenant: str
    status: int = 200
    detail: str | None = None
    result: T | None = None


class ManyOut(BaseModel, Generic[T]):
    site: str
    results: list[Outcome[T]]


Answers = dict[str, T | Exception]


def outcomes(answers: Answers[T]) -> list[Outcome[T]]:
    """Each tenant's answer for the wire; an error keeps its status (500 when unknown)."""
    out: list[Outcome[T]] = []
    for tenant, answer in answers.items():
        if isinstance(answer, YuiError):
            out.append(Outcome(tenant=tenant, status=answer.status, detail=answer.detail))
        elif isinstance(answer, Exception):
            out.append(Outcome(tenant=tenant, status=500, detail=f"{type(answer).__name__}"))
        else:
            out.append(Outcome(tenant=tenant, result=answer))
    return out


async def gathered(work: Iterable[Awaitable[T]], tenants: Iterable[str]) -> Answers[T]:
    """Await every tenant's work at once; its exception is its answer."""
    results = await asyncio.gather(*work, return_exceptions=True)
    answers: Answers[T] = {}
    for tenant, result in zip(tenants, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancelled: not a tenant's answer
        answers[tenant] = result
    return answers


@contextlib.asynccontextmanager
async def all_locked(locks: dict[str, asyncio.Lock]) -> AsyncIterator[None]:
    """Hold every tenant's lock (taken in tenant order: two batches cannot deadlock;
    the single-tenant endpoints take one lock only)."""
    async with contextlib.AsyncExitStack() as stack:
        for tenant in sorted(locks):
            await stack.enter_async_context(locks[tenant])
        yield
