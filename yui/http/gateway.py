"""Every site is a gateway for every tenant (DESIGN.md, "Runtime shape").

A request for a tenant whose primary is elsewhere is forwarded there. Reads are
tried locally first when this site holds a copy whose lag it knows (the answer states
it); if the local handler needs to write (e.g. an audited read) the write fence
answers 421 and the read is forwarded after all. A client that wants to read its
own writes sends `X-Yui-Consistency: primary`.

What a client can rely on (docs/replication.md, "Reads"):
- `X-Yui-Copy: primary` only from a site that is the tenant's primary by a live etcd
  lease and a current view of the placements (or in failsafe mode, where it also takes
  writes); a site that believes it is the primary but cannot confirm it answers 503.
- `X-Yui-Copy: replica` comes with `X-Yui-Replica-Lag-Entries` and `-Seconds`.
- A forwarded request is marked `X-Yui-Forwarded-By`; the mark counts only when the
  forwarding site signed the request (method, path, body hash, time, both sites) with
  a key this site trusts. Marks a client sends are removed before the app sees them.
- Paths with `.`/`..` segments or encoded slashes are refused (400) before routing, so
  a path cannot be routed by one tenant and served as another.
- A body is forwarded whole or not at all (a client that left, or a body over the
  limit, forwards nothing).
- "Retry" (503) only when the primary surely saw nothing (no connection) or the request
  is a read; a write whose answer did not come is a 504: it may have been carried out.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yui.http.middleware import client_address
from yui.http.problems import problem_response
from yui.tls import peer_verify

log = logging.getLogger("yui.gateway")

TENANT_PATH = re.compile(r"^/api/v1/([0-9]{6})(?:/|$)")
FORWARDED_BY = b"x-yui-forwarded-by"
FORWARDED_AT = b"x-yui-forwarded-at"
FORWARDED_FOR = b"x-yui-forwarded-for"
FORWARD_SIGNATURE = b"x-yui-forwarded-signature"
#: headers only a forwarding site may set: removed from every request before the app
MARKERS = (FORWARDED_BY, FORWARDED_AT, FORWARDED_FOR, FORWARD_SIGNATURE)
#: how far a forwarding site's clock may be from ours; a forward takes milliseconds
FORWARD_WINDOW_SECONDS = 30
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
#: response headers this site's own server writes: the primary's would be duplicates
OWN_RESPONSE_HEADERS = HOP_BY_HOP | {b"date", b"server", b"x-request-id", b"x-yui-site"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
#: forwarding errors that leave the primary untouched: no connection was made
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: path segments that would make the routed path differ from the served one
_UNSAFE_RAW = re.compile(rb"%2f|%5c", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    """Where a tenant's requests go, as this site knows it now."""

    #: the primary's site; None when the placement is not known yet (answered 503)
    primary: str | None
    primary_url: str | None
    has_local_copy: bool
    lag_entries: int | None = None
    lag_seconds: float | None = None
    #: when ``primary`` is this site: it holds a live lease and a current view (or is in
    #: failsafe mode), so its answers may be labelled the primary's
    primary_confirmed: bool = False


#: tenant → route; None when the tenant is not placed (served locally, e.g. a lone site)
RouteLookup = Callable[[str], Route | None]


class SiteSignatures(Protocol):
    """This site's signing key and the keys of the sites it trusts (the composition
    root lends replication's Ed25519 keys; the kernel does not know their kind)."""

    def sign(self, data: bytes) -> str:
        """This site's signature of ``data``."""
        ...

    def verify(self, site: str, data: bytes, signature: str) -> bool:
        """True when ``signature`` is ``site``'s over ``data`` and ``site`` is trusted."""
        ...


def forward_signing_input(
    method: str,
    target: str,
    from_site: str,
    to_site: str,
    timestamp: str,
    client: str,
    body: bytes,
) -> bytes:
    """What a forwarding site signs: the request (method, path with query, body hash),
    both sites, the time and the client's address. Its own context string keeps it
    apart from replication's signatures made with the same key."""
    return "\n".join(
        (
            "yui-forward-v1",
            method.upper(),
            target,
            from_site,
            to_site,
            timestamp,
            client,
            hashlib.sha256(body).hexdigest(),
        )
    ).encode()


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        site: str,
        lookup: RouteLookup,
        timeout: float = 10.0,
        signatures: SiteSignatures | None = None,
    ) -> None:
        self.app = app
        self.site = site
        self.lookup = lookup
        self.timeout = timeout
        #: None: forwards are unsigned and no mark is ever honoured
        self.signatures = signatures
        self._client: httpx.AsyncClient | None = None  # made in the serving event loop

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, verify=peer_verify())
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        markers = {k: v for k, v in scope["headers"] if k in MARKERS}
        # In place, not a copy: the router records the matched route in this scope, and
        # the access log outside reads it there (a copy made it match every route again).
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in MARKERS]
        if not _normalised(scope):
            await problem_response(
                400,
                "パスに「.」「..」の区間や符号化したスラッシュは使えません / a path may not "
                "contain '.' or '..' segments or encoded slashes",
                slug="path-not-normalised",
            )(scope, receive, send)
            return
        match = TENANT_PATH.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        tenant = match.group(1)
        route = self.lookup(tenant)
        body: bytes | None = None
        forwarded_by: str | None = None
        from_client = receive
        if markers:
            body = await _read_body(receive)
            if body is None:
                return  # the client left, or the body limit answered: nothing runs
            forwarded_by = self._verified(scope, markers, body)
            if forwarded_by is not None:
                client = markers.get(FORWARDED_FOR, b"").decode("latin-1")
                if client:
                    scope["client"] = (client, 0)
            receive = _replay(body, receive)
        if route is None:
            if forwarded_by is None:
                await self.app(scope, receive, send)  # not placed: served here (a lone site)
            else:
                await _not_primary_here(self.site, tenant)(scope, receive, send)
            return
        if route.primary is None:
            await problem_response(
                503,
                f"テナント {tenant} の配置をまだ知りません / this site does not know yet where "
                f"tenant {tenant} is placed (etcd not reached since it started): retry shortly",
                slug="placement-unknown",
                headers={"Retry-After": "1"},
            )(scope, receive, send)
            return
        if route.primary == self.site:
            if not route.primary_confirmed:
                await problem_response(
                    503,
                    f"この拠点はテナント {tenant} の主系であることを確認できません / this site "
                    f"cannot confirm it is the primary of {tenant} (no live etcd lease or no "
                    "current view of the placements): nothing was read or written; retry shortly",
                    slug="primary-unconfirmed",
                    headers={"Retry-After": "1"},
                )(scope, receive, send)
                return
            await self.app(scope, receive, _labelled(send, [(b"x-yui-copy", b"primary")]))
            return
        if forwarded_by is not None:
            # Forwarded here by a site whose view names us; ours does not: never bounce.
            await _not_primary_here(self.site, tenant)(scope, receive, send)
            return
        if body is None:
            body = await _read_body(receive)
            if body is None:
                return
        wants_primary = dict(scope["headers"]).get(b"x-yui-consistency", b"") == b"primary"
        local_read = scope["method"] in SAFE_METHODS and route.has_local_copy and not wants_primary
        if local_read and await self._try_locally(scope, body, from_client, send, route):
            return
        await self._forward(scope, body, send, route, route.primary)

    def _verified(self, scope: Scope, markers: dict[bytes, bytes], body: bytes) -> str | None:
        """The forwarding site, when its signature holds; None for any other mark."""
        site = markers.get(FORWARDED_BY, b"").decode("latin-1")
        timestamp = markers.get(FORWARDED_AT, b"").decode("latin-1")
        signature = markers.get(FORWARD_SIGNATURE, b"").decode("latin-1")
        client = markers.get(FORWARDED_FOR, b"").decode("latin-1")
        if self.signatures is None or not (site and timestamp.isdigit() and signature):
            return None
        if abs(int(timestamp) - time.time()) > FORWARD_WINDOW_SECONDS:
            log.warning("a forward from %r is outside the clock window: not honoured", site)
            return None
        data = forward_signing_input(
            scope["method"], _target(scope), site, self.site, timestamp, client, body
        )
        if not self.signatures.verify(site, data, signature):
            log.warning("a forward marked as from %r is not signed by it: not honoured", site)
            return None
        return site

    async def _try_locally(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, route: Route
    ) -> bool:
        """Serve from the local replica unless the handler was fenced (421)."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, _replay(body, receive), hold)
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is None or start["status"] == 421:
            return False
        lag = [(b"x-yui-copy", b"replica")]
        if route.lag_entries is not None:
            lag.append((b"x-yui-replica-lag-entries", str(route.lag_entries).encode()))
        if route.lag_seconds is not None:
            lag.append((b"x-yui-replica-lag-seconds", f"{route.lag_seconds:.3f}".encode()))
        labelled = _labelled(send, lag)
        for message in held:
            await labelled(message)
        return True

    async def _forward(
        self, scope: Scope, body: bytes, send: Send, route: Route, primary: str
    ) -> None:
        if route.primary_url is None:
            await problem_response(
                503,
                f"主系 {primary} の所在が不明です / the primary {primary} has no known address",
                headers={"Retry-After": "1"},
            )(scope, _replay(body), send)
            return
        url = httpx.URL(route.primary_url.rstrip("/")).copy_with(
            raw_path=_target(scope).encode("latin-1")
        )
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP]
        headers += self._marks(scope, body, primary)
        try:
            response = await self.client.request(
                scope["method"], url, headers=headers, content=body
            )
        except httpx.HTTPError as error:
            if isinstance(error, NOT_SENT) or scope["method"] in SAFE_METHODS:
                await problem_response(
                    503,
                    f"主系 {primary} に届きません / the primary {primary} is unreachable; "
                    "retry shortly",
                    headers={"Retry-After": "1"},
                )(scope, _replay(body), send)
            else:
                # The request may have reached the primary and be carried out there (a big
                # import, a slow replica): "retry" would do it twice.
                await problem_response(
                    504,
                    f"主系 {primary} から時間内に応答がありません。処理された可能性があります。"
                    "再送する前に結果を確認してください / the primary "
                    f"{primary} did not answer in time: the request may have been carried out; "
                    "check before sending it again",
                    slug="outcome-unknown",
                )(scope, _replay(body), send)
            return
        # x-yui-served-by and x-yui-copy come back from the primary; this site's server
        # adds its own date, server, request id and x-yui-site.
        out = [(k, v) for k, v in response.headers.raw if k.lower() not in OWN_RESPONSE_HEADERS]
        out.append((b"x-yui-forwarded-to", primary.encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})

    def _marks(self, scope: Scope, body: bytes, primary: str) -> list[tuple[bytes, bytes]]:
        marks = [(FORWARDED_BY, self.site.encode())]
        if self.signatures is None:
            return marks
        timestamp = str(int(time.time()))
        client = client_address(dict(scope))
        data = forward_signing_input(
            scope["method"], _target(scope), self.site, primary, timestamp, client, body
        )
        return [
            *marks,
            (FORWARDED_AT, timestamp.encode()),
            (FORWARDED_FOR, client.encode("latin-1")),
            (FORWARD_SIGNATURE, self.signatures.sign(data).encode()),
        ]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _normalised(scope: Scope) -> bool:
    """False for a path whose segments would be read differently after normalising
    (`/api/v1/271004/../041009/…`) or whose raw form hides a slash (`%2F`)."""
    segments = scope["path"].split("/")
    if any(segment in (".", "..") for segment in segments):
        return False
    raw = scope.get("raw_path")
    return not (raw and _UNSAFE_RAW.search(raw))


def _target(scope: Scope) -> str:
    """The path with its query, as sent on the wire."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    target = raw.decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return target


def _labelled(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def labelled(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return labelled


def _not_primary_here(site: str, tenant: str) -> ASGIApp:
    return problem_response(
        503,
        f"{site} はテナント {tenant} の主系ではありません（拠点間で配置の見え方が一時的に"
        f"異なります） / {site} is not the primary of {tenant} as it sees the placements now "
        "(the sites' views differ for a moment): nothing was read or written; retry shortly",
        slug="not-primary-here",
        headers={"Retry-After": "1"},
    )


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client left before sending all of it (the body
    limit also ends a body so): a body is forwarded whole or not at all."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, then: Receive | None = None) -> Receive:
    """The body read already, then what the client does next (a streamed answer
    watches for the client leaving: an early disconnect would cut it short)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then() if then is not None else {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
