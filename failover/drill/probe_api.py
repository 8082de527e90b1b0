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

from failover.drill.models import DrillProbe
from yui.auth.models import Role
from yui.auth.service import Principal
from yui.changelog.models import LogHead
from yui.errors import Conflict, NotFound
from yui.http.deps import Context, Tenant, UoW, require

__all__ = ["EPOCH_HEADER", "ProbeIn", "ProbeOut", "router"]

EPOCH_HEADER = "X-Yui-Epoch"

router = APIRouter(tags=["drills"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


class ProbeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="クライアントが生成した UUID / client-generated id")
    payload: str = Field(default="", max_length=200, description="任意の内容 / any content")


class ProbeOut(BaseModel):
    id: uuid.UUID
    tenant: str
    payload: str
    written_at: datetime
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
    gate = context.db.write_gate
    if gate is not None:
        gate(tenant)  # NotPrimary (421): only the primary confirms a probe
    replayed = _replay(found, body, tenant)
    head = session.execute(
        select(LogHead.last_seq).where(LogHead.tenant_id == tenant)
    ).scalar_one_or_none()
    epoch = _epoch(session, tenant)
    uow.rollback()  # nothing to write: the connection goes back before the answer waits
    for logged in context.db.on_logged:  # the answer waits for replication up to the head
        logged(tenant, int(head or 0))
    response.status_code = status.HTTP_200_OK
    response.headers[EPOCH_HEADER] = str(epoch)
    return replayed


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
    if found is None:
        raise NotFound(f"訓練プローブ {probe_id} はありません / no drill probe {probe_id}")
    return _out(found)
