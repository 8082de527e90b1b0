"""Personal one-tap links: a short token per resident per campaign, signed per tenant.

A token is the URL-safe base64 (no padding) of 65 bytes, short enough for an SMS:

    version (1) | key id (6) | tenant (6, ASCII) | campaign (16) | resident (16)
    | expires (4, Unix seconds) | HMAC-SHA256 of all before, first 16 bytes

The key is the tenant's own, derived from the site's token secret (YUI_TOKEN_SECRET,
the same secret every site shares; never a key in code): HMAC(secret, "yui-safety-link",
tenant). A token of one municipality therefore never verifies in another, and rotating
the secret (YUI_TOKEN_SECRET_PREVIOUS) keeps the links already sent valid while the
previous secret is set. The signature is checked before anything in the token is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from yui.auth.tokens import SigningKeys, key_id
from yui.errors import YuiError

VERSION = 1
_LAYOUT = struct.Struct(">B6s6s16s16sI")
MAC_BYTES = 16
TOKEN_BYTES = _LAYOUT.size + MAC_BYTES
#: the token's length in characters (anything else is refused before any work)
TOKEN_CHARS = len(base64.urlsafe_b64encode(bytes(TOKEN_BYTES)).rstrip(b"="))


class InvalidLink(YuiError):
    status = 403
    slug = "invalid-link"
    title = "リンクが正しくありません / This link is not valid"


class ExpiredLink(YuiError):
    status = 410
    slug = "link-expired"
    title = "リンクの有効期限が切れています / This link has expired"


@dataclass(frozen=True)
class LinkClaims:
    tenant: str
    campaign_id: str
    resident_id: str
    #: Unix seconds
    expires_at: int


def tenant_key(secret: bytes, tenant: str) -> bytes:
    """The tenant's link key, derived from the site's secret."""
    return hmac.new(secret, b"yui-safety-link\x00" + tenant.encode(), hashlib.sha256).digest()


def _key_ids(key: bytes) -> bytes:
    return bytes.fromhex(key_id(key))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


def issue(claims: LinkClaims, secrets: SigningKeys) -> str:
    key = tenant_key(secrets.current, claims.tenant)
    payload = _LAYOUT.pack(
        VERSION,
        _key_ids(key),
        claims.tenant.encode("ascii"),
        uuid.UUID(claims.campaign_id).bytes,
        uuid.UUID(claims.resident_id).bytes,
        claims.expires_at,
    )
    return base64.urlsafe_b64encode(payload + _mac(key, payload)).rstrip(b"=").decode()


def read(token: str, secrets: SigningKeys, tenant: str, now: float | None = None) -> LinkClaims:
    """The claims of a token signed with ``tenant``'s key, not expired; else
    `InvalidLink` (malformed, forged, another tenant's) or `ExpiredLink`."""
    invalid = InvalidLink(
        "このリンクは正しくないか、別の自治体のものです / this link is malformed, forged or "
        "belongs to another municipality"
    )
    if len(token) != TOKEN_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    payload, given = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    candidates = [secrets.current] + ([secrets.previous] if secrets.previous else [])
    for secret in candidates:
        key = tenant_key(secret, tenant)
        if hmac.compare_digest(payload[1:7], _key_ids(key)) and hmac.compare_digest(
            _mac(key, payload), given
        ):
            break
    else:
        raise invalid
    version, _kid, token_tenant, campaign, resident, expires_at = _LAYOUT.unpack(payload)
    if version != VERSION or token_tenant != tenant.encode("ascii"):
        raise invalid
    if expires_at <= (time.time() if now is None else now):
        raise ExpiredLink(
            "このリンクの有効期限が切れています。自治体の窓口か電話でお知らせください / this link "
            "has expired: please tell the municipality by phone or at its office"
        )
    return LinkClaims(
        tenant, str(uuid.UUID(bytes=campaign)), str(uuid.UUID(bytes=resident)), expires_at
    )


def expires(claims: LinkClaims) -> datetime:
    return datetime.fromtimestamp(claims.expires_at, UTC)
