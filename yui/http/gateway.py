"""Every site is a gateway for every tenant (DESIGN.md, "Runtime shape").

A request for a tenant whose primary is elsewhere is forwarded there. Reads are
tried locally first when this site holds a copy (the answer states the replica's
lag); if the local handler needs to write (e.g. an audited read) the write fence
answers 421 and the read is forwarded after all. A client that wants to read its
own writes sends `X-Yui-Consistency: primary`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yui.http.problems import problem_response

TENANT_PATH = re.compile(r"^/api/v1/([0-9]{6})(?:/|$)")
FORWARDED_BY = b"x-yui-forwarded-by"
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"te",
    b"upgrade",
    b"host",
    b"proxy-authorization",
    b"trailer",
    b"content-length",
}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    """Where a tenant's requests go, as this site knows it now."""

    primary: str
    primary_url: str | None
    has_local_copy: bool
    lag_entries: int | None = None
    lag_seconds: float | None = None


#: tenant → route; None when the tenant is not placed (served locally, e.g. a lone site)
RouteLookup = Callable[[str], Route | None]


class Gateway:
    def __init__(self, app: ASGIApp, site: str, lookup: RouteLookup, timeout: float = 10.0) -> None:
        self.app = app
        self.site = site
        self.lookup = lookup
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None  # made in the serving event loop

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = TENANT_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        route = self.lookup(match.group(1))
        if route is None or route.primary == self.site or FORWARDED_BY in headers:
            # Already forwarded once: never bounce; the write fence refuses if we are wrong.
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        wants_primary = headers.get(b"x-yui-consistency", b"") == b"primary"
        local_read = scope["method"] in SAFE_METHODS and route.has_local_copy and not wants_primary
        if local_read and await self._try_locally(scope, body, send, route):
            return
        await self._forward(scope, body, send, route)

    async def _try_locally(self, scope: Scope, body: bytes, send: Send, route: Route) -> bool:
        """Serve from the local replica unless the handler was fenced (421)."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, _replay(body), hold)
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is None or start["status"] == 421:
            return False
        lag = [(b"x-yui-served-by", self.site.encode()), (b"x-yui-copy", b"replica")]
        if route.lag_entries is not None:
            lag.append((b"x-yui-replica-lag-entries", str(route.lag_entries).encode()))
        if route.lag_seconds is not None:
            lag.append((b"x-yui-replica-lag-seconds", f"{route.lag_seconds:.3f}".encode()))
        for message in held:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *lag]}
            await send(message)
        return True

    async def _forward(self, scope: Scope, body: bytes, send: Send, route: Route) -> None:
        if route.primary_url is None:
            await problem_response(
                503,
                f"主系 {route.primary} の所在が不明です / the primary {route.primary} has no known address",
                headers={"Retry-After": "1"},
            )(scope, _replay(body), send)
            return
        url = route.primary_url.rstrip("/") + scope["path"]
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP]
        headers.append((FORWARDED_BY, self.site.encode()))
        try:
            response = await self.client.request(
                scope["method"], url, headers=headers, content=body
            )
        except httpx.HTTPError:
            await problem_response(
                503,
                f"主系 {route.primary} に届きません / the primary {route.primary} is unreachable; retry shortly",
                headers={"Retry-After": "1"},
            )(scope, _replay(body), send)
            return
        # x-yui-served-by comes back from the primary; our own x-yui-site is added outside.
        out = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.items()
            if k.encode("latin-1") not in HOP_BY_HOP
            and k.lower() not in ("x-request-id", "x-yui-site")
        ]
        out.append((b"x-yui-forwarded-to", route.primary.encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
