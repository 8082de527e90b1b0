"""Security of the console's pages: response headers and CSRF.

- A strict Content-Security-Policy: scripts, styles and fonts only from the node itself
  (no inline script or style, no CDN: in a disaster there may be no internet).
- Every form carries a CSRF token bound to the session (an HMAC of its random id), and
  every unsafe request is refused (403) without the right one; a request another site
  sends (Sec-Fetch-Site: cross-site, or a foreign Origin) is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.common.session import derived_key

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


def policy_connecting(origins: tuple[str, ...]) -> str:
    """The same policy, letting scripts also reach ``origins`` (the citizens' pages post
    a report to another site when their own is down): the server's list, never a
    client's."""
    if not origins:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'", "connect-src 'self' " + " ".join(origins)
    )


PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer a form's POST says "Origin: null"
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SecurityHeaders:
    """Adds the page headers to every answer under ``prefixes``; pages (not static
    files) are never cached: they hold personal data."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], static_prefix: str) -> None:
        self.app = app
        self.prefixes = prefixes
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(self.static_prefix)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = message.get("headers", [])
                # a page may widen connect-src (policy_connecting); nothing else is kept
                own_policy = [(n, v) for n, v in given if n.lower() == _POLICY]
                headers = [(name, value) for name, value in given if name.lower() not in _OURS]
                headers += [h for h in PAGE_HEADERS if not (own_policy and h[0] == _POLICY)]
                headers += own_policy[:1]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_OURS = {name for name, _ in PAGE_HEADERS} | {b"cache-control"}
_POLICY = b"content-security-policy"


class Csrf:
    def __init__(self, signing_key: bytes) -> None:
        self.key = derived_key(signing_key, "csrf")

    def token(self, sid: str) -> str:
        return hmac.new(self.key, sid.encode(), hashlib.sha256).hexdigest()

    def valid(self, sid: str, given: str) -> bool:
        return bool(given) and hmac.compare_digest(self.token(sid), given)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (or another
    origin of this one): by Sec-Fetch-Site, else by Origin. A client that sends
    neither still needs the CSRF token."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")
