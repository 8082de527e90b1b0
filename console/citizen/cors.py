"""CORS for the citizens' two public report endpoints only: a page served by one site
posts its report to another site when its own is down. Only the topology's sites are
allowed origins; every other API answer stays same-origin."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the one-tap link's report and the open form (both public, rate-limited per address)
PUBLIC_REPORTS = re.compile(
    r"^/api/v1/[0-9]{6}/safety/(links/[A-Za-z0-9_-]+/reports|campaigns/[0-9a-f-]{36}/form)$"
)
PREFLIGHT_MAX_AGE = "600"


class CitizenReportsCors:
    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not PUBLIC_REPORTS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = origin is not None and origin.decode("latin-1") in self.origins
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await _preflight(send, origin if allowed else None)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return
        assert origin is not None

        async def with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_origin)


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


async def _preflight(send: Send, origin: bytes | None) -> None:
    """204; a foreign origin gets no Allow-Origin, so the browser sends nothing."""
    headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
    if origin is not None:
        headers += [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", b"POST"),
            (b"access-control-allow-headers", b"content-type"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
        ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
