"""Build a FastAPI app's route tables before it serves its first request.

FastAPI builds each included router's table of routes lazily, on the first request that
reaches it: for a site node's ~250 routes about 0.5 s of CPU on this project's machines,
and seconds on a loaded one. A node that has just started (or restarted during a failover)
would pay that inside its first answers, the writes a client is waiting on among them.
Matching one path that no route has walks every table once, so they are all built.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Message, Scope

#: a path no route serves: matching it visits every route of every included router
_NO_ROUTE = "/.build-route-tables"


async def build_route_tables(app: FastAPI) -> None:
    """Walk every route once (the router answers 404 to nobody)."""
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": _NO_ROUTE,
        "raw_path": _NO_ROUTE.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def discard(_message: Message) -> None:
        return None

    await app.router(scope, receive, discard)
