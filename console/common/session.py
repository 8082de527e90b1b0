"""The console's session: a signed cookie, valid at every site.

It holds the staff member's bearer tokens (one per municipality signed in: the
switcher), which one is active, and a random id that CSRF tokens are bound to. It is
signed with a key derived from the sites' shared token key, so any surviving site
reads it; nothing about it is kept in a database. The cookie is ``Secure``,
``HttpOnly`` and ``SameSite=Strict``; a token inside it still expires on its own
(YUI_TOKEN_TTL_SECONDS), and the console then asks to sign in again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "yui_console"
#: at most this many municipalities signed in at once (the cookie stays small)
MAX_TENANTS = 5
#: how long the cookie itself lives; each token inside expires sooner
COOKIE_MAX_AGE_SECONDS = 12 * 3600


def derived_key(signing_key: bytes, purpose: str) -> bytes:
    """A key for one use of the console, from the sites' shared token key."""
    return hmac.new(signing_key, f"yui-console-{purpose}-v1".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class TenantSignIn:
    """One municipality the person is signed in to."""

    tenant: str
    token: str
    username: str
    roles: tuple[str, ...]
    expires_at: int
    #: the municipality's name, for the switcher
    name: str = ""

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at <= (time.time() if now is None else now)


@dataclass
class Session:
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    sign_ins: dict[str, TenantSignIn] = field(default_factory=dict)
    active: str | None = None
    #: set when a sign-in ended by itself, shown once on the sign-in page
    expired_notice: bool = False
    #: until when (Unix seconds) the person is signed in as the platform's operator; 0: not
    operator_until: int = 0
    changed: bool = False

    @property
    def current(self) -> TenantSignIn | None:
        return self.sign_ins.get(self.active) if self.active else None

    def add(self, sign_in: TenantSignIn) -> None:
        self.sign_ins[sign_in.tenant] = sign_in
        while len(self.sign_ins) > MAX_TENANTS:  # the oldest sign-in goes first
            self.sign_ins.pop(next(iter(self.sign_ins)))
        self.active = sign_in.tenant
        self.changed = True

    def drop(self, tenant: str, *, expired: bool = False) -> None:
        self.sign_ins.pop(tenant, None)
        if self.active == tenant:
            self.active = next(iter(self.sign_ins), None)
        self.expired_notice = self.expired_notice or expired
        self.changed = True

    def drop_expired(self) -> None:
        for tenant in [t for t, s in self.sign_ins.items() if s.expired()]:
            self.drop(tenant, expired=True)

    @property
    def operator(self) -> bool:
        return self.operator_until > time.time()

    def clear(self) -> None:
        self.sign_ins.clear()
        self.active = None
        self.operator_until = 0
        self.sid = secrets.token_urlsafe(18)  # a new CSRF binding after sign-out
        self.changed = True

    def to_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "active": self.active,
            "expired": self.expired_notice,
            "op": self.operator_until,
            "in": [
                [s.tenant, s.token, s.username, list(s.roles), s.expires_at, s.name]
                for s in self.sign_ins.values()
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        sign_ins = {}
        for tenant, token, username, roles, expires_at, name in data["in"][:MAX_TENANTS]:
            sign_ins[str(tenant)] = TenantSignIn(
                str(tenant),
                str(token),
                str(username),
                tuple(map(str, roles)),
                int(expires_at),
                str(name),
            )
        active = data.get("active")
        return cls(
            sid=str(data["sid"]),
            sign_ins=sign_ins,
            active=str(active) if active in sign_ins else None,
            expired_notice=bool(data.get("expired", False)),
            operator_until=int(data.get("op", 0)),
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    def __init__(self, signing_key: bytes) -> None:
        self.key = derived_key(signing_key, "session")

    def dumps(self, session: Session) -> str:
        body = _b64(json.dumps(session.to_json(), separators=(",", ":")).encode())
        return f"{body}.{_b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())}"

    def loads(self, cookie: str) -> Session | None:
        """The session, or None for a cookie that is not ours or was changed."""
        body, _, signature = cookie.partition(".")
        if not body or len(cookie) > 8192:
            return None
        expected = _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            return Session.from_json(json.loads(_unb64(body)))
        except (ValueError, KeyError, TypeError):
            return None


def load_session(request: Request, codec: SessionCodec) -> Session:
    """This request's session (made once per request, kept on its state)."""
    held = getattr(request.state, "console_session", None)
    if isinstance(held, Session):
        return held
    cookie = request.cookies.get(SESSION_COOKIE)
    session = codec.loads(cookie) if cookie else None
    if session is None:
        session = Session(changed=True)
    session.drop_expired()
    request.state.console_session = session
    return session


def save_session(response: Response, session: Session, codec: SessionCodec) -> None:
    if not session.changed:
        return
    response.set_cookie(
        SESSION_COOKIE,
        codec.dumps(session),
        max_age=COOKIE_MAX_AGE_SECONDS,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
