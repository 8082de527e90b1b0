"""The replica side's ``/replication/v1`` endpoints: batches and snapshots in, seals,
promotion, the copy's state, holds, digests, quarantine. Thin: the receiver decides
(replication.replica.receiver). Every request is signed by a trusted site.

(No ``from __future__ import annotations`` here: FastAPI resolves the endpoints'
annotations at runtime.)
"""

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Query, Request

from replication.protocol import many
from replication.protocol.endpoints import (
    PREFIX,
    SignedSite,
    TenantPath,
    parsed,
    replication_node,
)
from replication.protocol.signing import SIGNATURE_HEADER
from replication.protocol.wire import (
    Ack,
    Batch,
    DigestOut,
    HoldIn,
    PromoteIn,
    QuarantineOut,
    ReplicaStatus,
    ResolveIn,
    SealIn,
    SealOut,
)
from replication.replica.receiver import Receiver


class _Node(Protocol):
    receiver: Receiver


async def receiver(node: Annotated[_Node, Depends(replication_node)]) -> Receiver:
    """This site's replica side. (Async: a plain ``def`` dependency runs in a worker
    thread, a hop per batch that was ~15 % of a busy replica's CPU.)"""
    return node.receiver


Copies = Annotated[Receiver, Depends(receiver)]

router = APIRouter(prefix=PREFIX, tags=["replication"])


# The batched forms come first: "/batch/..." would otherwise match "/{tenant}/...".
@router.post(
    "/batch/resume",
    response_model=many.ManyOut[ReplicaStatus],
    summary="一括の書き込み再開 / resume writes of many tenants",
)
async def resume_many(
    _source: SignedSite, copies: Copies, request: Request
) -> many.ManyOut[ReplicaStatus]:
    body = parsed(many.TenantsIn.model_validate_json, await request.body())
    return await copies.resume_many(body.tenants)


@router.post(
    "/batch/status",
    response_model=many.ManyOut[ReplicaStatus],
    summary="複数の複製の状態 / the state of many copies",
)
async def status_many(
    _source: SignedSite, copies: Copies, request: Request
) -> many.ManyOut[ReplicaStatus]:
    body = parsed(many.TenantsIn.model_validate_json, await request.body())
    return await copies.statuses(body.tenants)


@router.post(
    "/batch/seal",
    response_model=many.ManyOut[SealOut],
    summary="一括の封印 / seal many tenants, each at its epoch",
)
async def seal_many(_source: SignedSite, copies: Copies, request: Request) -> many.ManyOut[SealOut]:
    body = parsed(many.EpochsIn.model_validate_json, await request.body())
    return await copies.seal_many(body.epochs())


@router.post(
    "/batch/promote",
    response_model=many.ManyOut[ReplicaStatus],
    summary="一括で主系になる / become the primary of many tenants, each at its epoch",
)
async def promote_many(
    _source: SignedSite, copies: Copies, request: Request
) -> many.ManyOut[ReplicaStatus]:
    body = parsed(many.EpochsIn.model_validate_json, await request.body())
    return await copies.promote_many(body.epochs())


@router.post(
    "/{tenant}/entries",
    response_model=Ack,
    summary="変更ログの受信 / take a batch of change-log entries",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": Batch.model_json_schema()}},
        }
    },
)
async def entries(tenant: TenantPath, source: SignedSite, copies: Copies, request: Request) -> Ack:
    batch = parsed(Batch.model_validate_json, await request.body())
    return await copies.take(tenant, source, batch)


@router.post(
    "/{tenant}/snapshot",
    response_model=Ack,
    summary="スナップショットの受信 / load a streamed snapshot (NDJSON)",
)
async def load_snapshot(
    tenant: TenantPath, source: SignedSite, copies: Copies, request: Request
) -> Ack:
    signature = request.headers[SIGNATURE_HEADER]
    return await copies.take_snapshot(tenant, source, signature, request.stream())


@router.post("/{tenant}/seal", response_model=SealOut, summary="封印 / seal an epoch")
async def seal(
    tenant: TenantPath, _source: SignedSite, copies: Copies, request: Request
) -> SealOut:
    body = parsed(SealIn.model_validate_json, await request.body())
    return await copies.seal(tenant, body.epoch)


@router.post(
    "/{tenant}/promote", response_model=ReplicaStatus, summary="主系になる / become the primary"
)
async def promote(
    tenant: TenantPath, _source: SignedSite, copies: Copies, request: Request
) -> ReplicaStatus:
    body = parsed(PromoteIn.model_validate_json, await request.body())
    return await copies.promote(tenant, body.epoch)


@router.get("/{tenant}/status", response_model=ReplicaStatus, summary="この複製の状態 / this copy")
async def status(tenant: TenantPath, _source: SignedSite, copies: Copies) -> ReplicaStatus:
    return await copies.status(tenant)


@router.post(
    "/{tenant}/hold", response_model=ReplicaStatus, summary="適用の一時停止 / hold applying"
)
async def hold(
    tenant: TenantPath, _source: SignedSite, copies: Copies, request: Request
) -> ReplicaStatus:
    body = parsed(HoldIn.model_validate_json, await request.body())
    return await copies.hold(tenant, body.seq, body.ttl_seconds)


@router.delete("/{tenant}/hold", response_model=ReplicaStatus, summary="適用の再開 / release")
async def release(tenant: TenantPath, _source: SignedSite, copies: Copies) -> ReplicaStatus:
    return await copies.release(tenant)


@router.delete(
    "/{tenant}/pause",
    response_model=ReplicaStatus,
    summary="書き込みの再開 / resume writes at this site",
)
async def resume(tenant: TenantPath, _source: SignedSite, copies: Copies) -> ReplicaStatus:
    return await copies.resume(tenant)


@router.get("/{tenant}/digest", response_model=DigestOut, summary="ダイジェスト / digest at a seq")
async def digest(
    tenant: TenantPath,
    _source: SignedSite,
    copies: Copies,
    seq: Annotated[int | None, Query(ge=0)] = None,
    wait: Annotated[float, Query(ge=0, le=600)] = 30.0,
) -> DigestOut:
    return await copies.digest(tenant, seq, wait)


@router.get(
    "/{tenant}/quarantine",
    response_model=list[QuarantineOut],
    summary="隔離 / quarantined entries",
)
async def quarantined(
    tenant: TenantPath,
    _source: SignedSite,
    copies: Copies,
    resolved: bool = False,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> list[QuarantineOut]:
    return await copies.quarantined(tenant, resolved, offset, limit)


@router.post(
    "/{tenant}/quarantine/{entry_id}/resolve",
    response_model=QuarantineOut,
    summary="隔離の解決 / mark an entry reconciled",
)
async def resolve(
    tenant: TenantPath, entry_id: int, _source: SignedSite, copies: Copies, request: Request
) -> QuarantineOut:
    body = parsed(ResolveIn.model_validate_json, await request.body())
    return await copies.resolve(tenant, entry_id, body.by, body.note)
