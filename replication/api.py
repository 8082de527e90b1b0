"""A site's ``/replication/v1``: the replica side's routes, the primary side's, and the
node's own status over both. ``include`` is what the composition root calls.

(No ``from __future__ import annotations`` here: FastAPI resolves the endpoints'
annotations at runtime.)
"""

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, FastAPI

from replication.primary import api as primary_api
from replication.primary.primaries import Primaries
from replication.protocol.endpoints import PREFIX, SignedSite, replication_node
from replication.protocol.signing import TrustStore
from replication.protocol.wire import NodeStatus
from replication.replica import api as replica_api
from replication.replica.receiver import Receiver


class Node(Protocol):
    """What the routes take from the site's replication node (replication.node)."""

    site: str
    trust: TrustStore
    primaries: Primaries
    receiver: Receiver


router = APIRouter(prefix=PREFIX, tags=["replication"])


@router.get(
    "/status", response_model=NodeStatus, summary="このサイトの複製状況 / this site's status"
)
async def node_status(
    _source: SignedSite, node: Annotated[Node, Depends(replication_node)]
) -> NodeStatus:
    tenants = node.primaries.statuses()
    return NodeStatus(site=node.site, tenants=tenants, copies=await node.receiver.copies())


def include(app: FastAPI, node: Node) -> None:
    """Serve ``node``'s endpoints in ``app`` (the routes' dependencies find it in
    ``app.state.replication``)."""
    app.state.replication = node
    # The batched forms of each side come before its "/{tenant}/..." routes (in the
    # routers themselves); the two sides share no path and method.
    app.include_router(replica_api.router)
    app.include_router(primary_api.router)
    app.include_router(router)
