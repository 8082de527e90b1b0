"""Staff read API of a tenant's background jobs (admin and auditor)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from yui.auth.models import Role
from yui.auth.service import Principal
from yui.db.types import UtcDateTime
from yui.http.deps import UoW, require
from yui.jobs import service
from yui.text import LineText

router = APIRouter(tags=["jobs"])
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]
State = Literal["queued", "running", "done", "failed"]


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    params: dict[str, Any]
    state: State
    step: int
    results: list[Any]
    attempts: int
    created_at: UtcDateTime
    updated_at: UtcDateTime
    finished_at: UtcDateTime | None
    site: str | None
    last_error: str | None


@router.get("/jobs", response_model=list[JobOut], summary="ジョブ一覧 / background jobs")
def list_jobs(
    uow: UoW,
    _: Reader,
    state: State | None = None,
    kind: Annotated[LineText | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    rows = service.list_jobs(uow, state=state, kind=kind, limit=limit)
    return [JobOut.model_validate(row) for row in rows]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="ジョブ / one background job")
def show_job(uow: UoW, _: Reader, job_id: uuid.UUID) -> JobOut:
    return JobOut.model_validate(service.get(uow, job_id))
