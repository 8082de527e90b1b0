"""The primary side's ``/replication/v1`` endpoints: pausing a tenant's writes for a
planned move (its resumption answers with the copy's state: replication.replica.api).
Thin: this site's primaries decide (replication.primary.primaries). Every request is
signed by a trusted site.

(No ``from __future__ import annotations`` here: FastAPI resolves the endpoints'
annotations at runtime.)
"""

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request

from replication.primary.primaries import Primaries
from replication.protocol import many
from replication.protocol.endpoints import (
    PREFIX,
    SignedSite,
    TenantPath,
    parsed,
    replication_node,
)
from replication.protocol.wire import PauseIn, PauseOut


class _Node(Protocol):
    primaries: Primaries


async def primaries(node: Annotated[_Node, Depends(replication_node)]) -> Primaries:
    """This site's primaries."""
    return node.primaries


Here = Annotated[Primaries, Depends(primaries)]

router = APIRouter(prefix=PREFIX, tags=["replication"])


# The batched form comes first: "/batch/..." would otherwise match "/{tenant}/...".
@router.post(
    "/batch/pause",
    response_model=many.ManyOut[PauseOut],
    summary="一括の書き込み停止 / pause writes of many tenants (a planned move)",
)
async def pause_many(_source: SignedSite, here: Here, request: Request) -> many.ManyOut[PauseOut]:
    body = parsed(many.PauseManyIn.model_validate_json, await request.body())
    answers = await here.pause_many(body.tenants, body.ttl_seconds, body.wait_seconds)
    return many.ManyOut(site=here.site, results=many.outcomes(answers))


@router.post(
    "/{tenant}/pause",
    response_model=PauseOut,
    summary="書き込みの一時停止 / pause writes at the primary for a planned move",
)
async def pause(tenant: TenantPath, _source: SignedSite, here: Here, request: Request) -> PauseOut:
    body = parsed(PauseIn.model_validate_json, await request.body())
    return await here.pause_writes(tenant, body.ttl_seconds, body.wait_seconds)
