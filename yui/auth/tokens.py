"""Short-lived signed bearer tokens (HMAC-SHA256), valid at every site that shares the key.

A token is `yui2.<key id>.<claims>.<signature>`. The key id names the key that signed it
(derived from the key, so there is nothing more to configure): during a rotation a site
accepts the current key's tokens and the previous key's (YUI_TOKEN_SECRET_PREVIOUS) and
signs only with the current one. The signature is checked before the claims are decoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

PREFIX = "yui2"
#: far above any token this module issues; a longer one is refused before any work on it
MAX_TOKEN_CHARS = 4096
#: how far the clocks of two sites may disagree about when a token was issued
CLOCK_SKEW_SECONDS = 60


class TokenError(Exception):
    """The token is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    username: str
    tenant: str
    roles: tuple[str, ...]
    expires_at: int
    #: the account's token generation when it was issued (yui/auth/models.py)
    generation: int = 0
    #: when it was issued (Unix seconds; 0: expires_at alone bounds it)
    issued_at: int = 0


def key_id(key: bytes) -> str:
    """A short public name of a key (not enough of its hash to help guess it)."""
    return hashlib.sha256(b"yui-token-key-id\x00" + key).hexdigest()[:12]


@dataclass(frozen=True)
class SigningKeys:
    """The key tokens are signed with, and the one being retired (accepted, never used)."""

    current: bytes
    previous: bytes | None = None

    def find(self, kid: str) -> bytes | None:
        for key in (self.current, self.previous):
            if key is not None and hmac.compare_digest(key_id(key), kid):
                return key
        return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode(), hashlib.sha256).digest()


def issue(claims: TokenClaims, key: bytes) -> str:
    body = _b64(
        json.dumps(
            {
                "sub": claims.user_id,
                "usr": claims.username,
                "ten": claims.tenant,
                "rol": list(claims.roles),
                "exp": claims.expires_at,
                "gen": claims.generation,
                "iat": claims.issued_at,
            },
            separators=(",", ":"),
        ).encode()
    )
    signing_input = f"{PREFIX}.{key_id(key)}.{body}"
    return f"{signing_input}.{_b64(_sign(key, signing_input))}"


def read(
    token: str,
    keys: SigningKeys | bytes,
    now: float | None = None,
    *,
    max_age_seconds: int | None = None,
) -> TokenClaims:
    """The claims of a token signed with one of `keys`, not expired.

    `max_age_seconds` is the reading site's own token lifetime: a token older than it is
    refused whatever its `exp` says (a site configured with a longer lifetime, or a clock
    far ahead, cannot stretch it), and one issued in the future is refused too."""
    if isinstance(keys, bytes):
        keys = SigningKeys(keys)
    parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 4 or parts[0] != PREFIX:
        raise TokenError("malformed token")
    key = keys.find(parts[1])
    if key is None:
        raise TokenError("unknown signing key")
    try:
        given = _unb64(parts[3])
    except ValueError:
        raise TokenError("malformed token") from None
    if not hmac.compare_digest(_sign(key, ".".join(parts[:3])), given):
        raise TokenError("bad signature")
    try:
        payload = json.loads(_unb64(parts[2]))
        claims = TokenClaims(
            user_id=str(payload["sub"]),
            username=str(payload["usr"]),
            tenant=str(payload["ten"]),
            roles=tuple(str(role) for role in payload["rol"]),
            expires_at=int(payload["exp"]),
            generation=int(payload["gen"]),
            issued_at=int(payload["iat"]),
        )
    except (KeyError, TypeError, ValueError, RecursionError):
        raise TokenError("malformed token") from None
    moment = time.time() if now is None else now
    if claims.expires_at <= moment:
        raise TokenError("token expired")
    if max_age_seconds is not None:
        if claims.issued_at > moment + CLOCK_SKEW_SECONDS:
            raise TokenError("token issued in the future (clock skew)")
        if claims.issued_at + max_age_seconds <= moment - CLOCK_SKEW_SECONDS:
            raise TokenError("token expired")
    return claims
