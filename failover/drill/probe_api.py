"""`POST /api/v1/{tenant}/drill-probes`: the idempotent write a drill's load generator makes.

- a new id → 201 with the stored probe;
- the same id and payload again → 200 with the first result (nothing written);
- the same id with another payload → 409.

Every answer carries ``X-Yui-Epoch``: the epoch the answering site holds for the tenant
now (its log head), so the checker can tell two sites acknowledging in one epoch (split
brain). A replay answers only where a write would be accepted (the site's write gate):
a deposed primary must not confirm, from its stale copy, a probe the new primary never
received. Nor may a primary confirm a probe it committed but could not replicate (a first
attempt that timed out while the site was cut off): a replay answers only once the log up
to the head is where the tenant's mode promises, exactly as a first write does. Only the tenant's admins may write probes: drills are an operator's act.

The router needs nothing beyond the kernel's dependencies; the site node mounts it under
``/api/v1/{tenant}``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from failover.drill.models import DrillCounter, DrillCounterIncrement, DrillProbe
from yui.auth.models import Role
from yui.auth.service import Principal
from yui.changelog.models import LogHead
from yui.db.types import UtcDateTime
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, NotFound
from yui.http.deps import Context, Tenant, UoW, require
from yui.text import InputModel

__all__ = [
    "EPOCH_HEADER",
    "DeletedOut",
    "IncrementIn",
    "IncrementOut",
    "ProbeIn",
    "ProbeOut",
    "router",
]

EPOCH_HEADER = "X-Yui-Epoch"

router = APIRouter(tags=["drills"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


class ProbeIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="クライアントが生成した UUID / client-generated id")
    payload: str = Field(default="", max_length=200, description="任意の内容 / any content")


class ProbeOut(BaseModel):
    id: uuid.UUID
    tenant: str
    payload: str
    written_at: UtcDateTime
    site: str
    epoch: int


def _out(probe: DrillProbe) -> ProbeOut:
    return ProbeOut(
        id=probe.id,
        tenant=probe.tenant_id,
        payload=probe.payload,
        written_at=probe.written_at,
        site=probe.site,
        epoch=probe.epoch,
    )


def _epoch(session: Session, tenant: str) -> int:
    value = session.execute(
        select(LogHead.epoch).where(LogHead.tenant_id == tenant)
    ).scalar_one_or_none()
    return int(value or 0)


def _replay(found: DrillProbe, body: ProbeIn, tenant: str) -> ProbeOut:
    if found.deleted_at is not None:
        raise Conflict(
            f"訓練プローブ {body.id} は削除済みです（ID は再利用できません） / drill probe "
            f"{body.id} of tenant {tenant} was deleted; an id is never used again",
            id=str(body.id),
        )
    if found.payload != body.payload:
        raise Conflict(
            f"訓練プローブ {body.id} は別の内容で登録済みです / drill probe {body.id} of tenant "
            f"{tenant} exists with different content",
            id=str(body.id),
        )
    return _out(found)


@router.post(
    "/drill-probes",
    response_model=ProbeOut,
    status_code=status.HTTP_201_CREATED,
    summary="訓練プローブを書く（冪等） / write a drill probe (idempotent by id)",
    responses={200: {"description": "already written: the first result", "model": ProbeOut}},
)
def write_probe(
    body: ProbeIn, tenant: Tenant, uow: UoW, context: Context, response: Response, _: Admin
) -> ProbeOut:
    session = uow.session
    found = session.get(DrillProbe, (tenant, body.id))
    if found is None:
        epoch = _epoch(session, tenant)
        probe = DrillProbe(
            tenant_id=tenant,
            id=body.id,
            payload=body.payload,
            written_at=datetime.now(UTC),
            site=context.settings.site,
            epoch=epoch,
        )
        session.add(probe)
        try:
            uow.commit()
        except IntegrityError:
            # A concurrent request with the same id committed first: answer as a replay.
            uow.rollback()
            found = session.get(DrillProbe, (tenant, body.id), populate_existing=True)
            if found is None:
                raise
        else:
            response.headers[EPOCH_HEADER] = str(epoch)
            return _out(probe)
    replayed = _replay(found, body, tenant)
    _confirm_replay(uow, context, tenant, response)
    return replayed


def _confirm_replay(uow: UnitOfWork, context: Context, tenant: str, response: Response) -> None:
    """Answer a replay (nothing to write) only where, and once, a write would be answered:
    at the primary (its write gate) and with the log up to the head replicated as the
    tenant's mode promises. Sets 200 and the epoch header."""
    session = uow.session
    gate = context.db.write_gate
    if gate is not None:
        gate(tenant)  # NotPrimary (421): only the primary confirms a write
    head = session.execute(
        select(LogHead.last_seq).where(LogHead.tenant_id == tenant)
    ).scalar_one_or_none()
    epoch = _epoch(session, tenant)
    uow.rollback()  # nothing to write: the connection goes back before the answer waits
    for logged in context.db.on_logged:  # the answer waits for replication up to the head
        logged(tenant, int(head or 0), ())
    response.status_code = status.HTTP_200_OK
    response.headers[EPOCH_HEADER] = str(epoch)


@router.get(
    "/drill-probes/{probe_id}",
    response_model=ProbeOut,
    summary="訓練プローブを読む / read a drill probe",
)
def read_probe(
    probe_id: Annotated[uuid.UUID, Path(description="probe id")],
    tenant: Tenant,
    uow: UoW,
    _: Admin,
) -> ProbeOut:
    found = uow.session.get(DrillProbe, (tenant, probe_id))
    if found is None or found.deleted_at is not None:
        raise NotFound(f"訓練プローブ {probe_id} はありません / no drill probe {probe_id}")
    return _out(found)


class DeletedOut(BaseModel):
    id: uuid.UUID
    #: False: the probe was already absent (a retried delete, or it never reached here)
    deleted_now: bool


@router.delete(
    "/drill-probes/{probe_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="訓練プローブを消す（冪等） / delete a drill probe (idempotent)",
    responses={200: {"description": "already absent", "model": DeletedOut}},
    response_model=None,
)
def delete_probe(
    probe_id: Annotated[uuid.UUID, Path(description="probe id")],
    tenant: Tenant,
    uow: UoW,
    context: Context,
    response: Response,
    _: Admin,
) -> DeletedOut | None:
    """204: deleted now. 200 ``deleted_now: false``: it was not there (a retry of a delete
    that was applied, or a probe this primary never held — the checker tells which)."""
    session = uow.session
    found = session.get(DrillProbe, (tenant, probe_id))
    if found is not None and found.deleted_at is None:
        epoch = _epoch(session, tenant)
        found.deleted_at = datetime.now(UTC)  # a tombstone: the id is never applied again
        uow.commit()
        response.headers[EPOCH_HEADER] = str(epoch)
        return None
    _confirm_replay(uow, context, tenant, response)
    return DeletedOut(id=probe_id, deleted_now=False)


class IncrementIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="クライアントが生成した増分の UUID / client-generated id")


class IncrementOut(BaseModel):
    counter: str
    id: uuid.UUID
    #: the counter's value right after this increment was applied
    value: int
    site: str
    epoch: int


CounterName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", description="counter name")]


def _increment_out(row: DrillCounterIncrement) -> IncrementOut:
    return IncrementOut(
        counter=row.counter, id=row.id, value=row.value, site=row.site, epoch=row.epoch
    )


@router.post(
    "/drill-counters/{name}/increments",
    response_model=IncrementOut,
    status_code=status.HTTP_201_CREATED,
    summary="訓練カウンタを1増やす（冪等） / increment a drill counter (idempotent by id)",
    responses={200: {"description": "already applied: the first result", "model": IncrementOut}},
)
def increment_counter(
    name: CounterName,
    body: IncrementIn,
    tenant: Tenant,
    uow: UoW,
    context: Context,
    response: Response,
    _: Admin,
) -> IncrementOut:
    """A read-modify-write: the counter row is read under a write lock, incremented and
    the increment recorded with the value it produced, in one transaction. A lost update
    shows as an acknowledged increment id missing from a copy, two increments answered
    with one value, or a value that is not the number of increments applied."""
    session = uow.session
    for _attempt in range(2):  # a concurrent first increment of the counter: read again
        found = session.get(DrillCounterIncrement, (tenant, name, body.id))
        if found is not None:
            replayed = _increment_out(found)
            _confirm_replay(uow, context, tenant, response)
            return replayed
        now = datetime.now(UTC)
        epoch = _epoch(session, tenant)
        try:  # a concurrent first increment creates the counter too: its flush fails here
            counter = session.get(DrillCounter, (tenant, name), with_for_update=True)
            if counter is None:
                counter = DrillCounter(tenant_id=tenant, name=name, value=0, updated_at=now)
                session.add(counter)
            counter.value += 1
            counter.updated_at = now
            applied = DrillCounterIncrement(
                tenant_id=tenant,
                counter=name,
                id=body.id,
                value=counter.value,
                applied_at=now,
                site=context.settings.site,
                epoch=epoch,
            )
            session.add(applied)
            uow.commit()
        except IntegrityError:
            uow.rollback()
            session.expire_all()
            continue
        response.headers[EPOCH_HEADER] = str(epoch)
        return _increment_out(applied)
    raise Conflict(
        f"カウンタ {name} を更新できません（競合） / counter {name} of tenant {tenant} could "
        "not be updated (concurrent writers); try again",
        counter=name,
    )
