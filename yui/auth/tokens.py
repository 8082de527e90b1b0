"""Short-lived signed bearer tokens (HMAC-SHA256), valid at every site that shares the key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass


class TokenError(Exception):
    """The token is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    username: str
    tenant: str
    roles: tuple[str, ...]
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(claims: TokenClaims, key: bytes) -> str:
    body = _b64(
        json.dumps(
            {
                "sub": claims.user_id,
                "usr": claims.username,
                "ten": claims.tenant,
                "rol": list(claims.roles),
                "exp": claims.expires_at,
            },
            separators=(",", ":"),
        ).encode()
    )
    signature = _b64(hmac.new(key, b"yui1." + body.encode(), hashlib.sha256).digest())
    return f"yui1.{body}.{signature}"


#: far above any token this module issues; a longer one is refused before any work on it
MAX_TOKEN_CHARS = 4096


def read(token: str, key: bytes, now: float | None = None) -> TokenClaims:
    """The claims of a token signed with `key`. The signature is checked before the payload
    is decoded: nothing an unauthenticated client sends is parsed as JSON."""
    parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3 or parts[0] != "yui1":
        raise TokenError("malformed token")
    try:
        given = _unb64(parts[2])
    except ValueError:
        raise TokenError("malformed token") from None
    expected = hmac.new(key, b"yui1." + parts[1].encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, given):
        raise TokenError("bad signature")
    try:
        payload = json.loads(_unb64(parts[1]))
        claims = TokenClaims(
            user_id=str(payload["sub"]),
            username=str(payload["usr"]),
            tenant=str(payload["ten"]),
            roles=tuple(str(role) for role in payload["rol"]),
            expires_at=int(payload["exp"]),
        )
    except (KeyError, TypeError, ValueError, RecursionError):
        raise TokenError("malformed token") from None
    if claims.expires_at <= (time.time() if now is None else now):
        raise TokenError("token expired")
    return claims
