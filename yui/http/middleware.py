"""ASGI middleware: request ids, access log and metrics; the request body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yui.http.problems import problem_response
from yui.http.routes import route_template
from yui.logging import request_id

log = logging.getLogger("yui.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    """Gives each request an id (kept from X-Request-ID when sane), logs it, counts it.

    The log line names the route's template, never the path or the query string: personal
    data (a search for a name, a name typed where an id belongs) must not reach the logs."""

    def __init__(
        self,
        app: ASGIApp,
        registry: CollectorRegistry,
        site: str,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.site = site
        self.routes = routes
        self.requests = Counter(
            "yui_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "yui_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers += [(b"x-request-id", rid.encode()), (b"x-yui-site", self.site.encode())]
                if not any(name == b"x-yui-served-by" for name, _ in headers):
                    headers.append((b"x-yui-served-by", self.site.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope, self.routes)
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(elapsed)
            log.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 2), "route": route},
            )
            request_id.reset(token)


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413, by Content-Length or while streaming.

    Paths under `exempt_prefixes` (site-to-site replication, whose snapshots are
    streamed) enforce their own limits."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.exempt_prefixes and scope["path"].startswith(self.exempt_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        received = 0
        started = answered = False

        async def limited_receive() -> Message:
            nonlocal received, started, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer now and tell the app the client left; its own reply is dropped.
                    if not started:
                        started = answered = True
                        await self._too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracking_send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        # made only when it is sent: built for every request, it was ~2 % of a busy
        # primary's CPU (a pydantic model and a rendered JSON body each time)
        answer = problem_response(
            413,
            f"本文は{self.max_bytes}バイトまでです / the body is limited to {self.max_bytes} bytes",
        )
        await answer(scope, receive, send)


def client_address(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
