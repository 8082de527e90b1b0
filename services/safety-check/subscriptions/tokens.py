"""The token in a subscription's e-mails: the subscription's id and its signature.

`<id>.<mac>`, the MAC being HMAC-SHA256 (first 16 bytes) of the id under the tenant's
own key derived from the site's token secret (YUI_TOKEN_SECRET, shared by every site;
the previous secret is accepted during a rotation), as the one-tap links are signed. So
no token is stored, a token of one municipality never verifies in another, and the job
that sends an e-mail makes the same token at any site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from yui.auth.tokens import SigningKeys

_PURPOSE = b"yui-safety-subscription\x00"
_FORM = re.compile(r"^([0-9a-f-]{36})\.([A-Za-z0-9_-]{22})$")


def _mac(secret: bytes, tenant: str, subscription_id: str) -> str:
    key = hmac.new(secret, _PURPOSE + tenant.encode(), hashlib.sha256).digest()
    mac = hmac.new(key, subscription_id.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue(keys: SigningKeys, tenant: str, subscription_id: str) -> str:
    return f"{subscription_id}.{_mac(keys.current, tenant, subscription_id)}"


def subscription_of(keys: SigningKeys, tenant: str, token: str) -> str | None:
    """The subscription a token names in this tenant, or None when it is not ours."""
    match = _FORM.match(token)
    if match is None:
        return None
    subscription_id, mac = match.groups()
    for secret in (keys.current, keys.previous):
        if secret is not None and hmac.compare_digest(mac, _mac(secret, tenant, subscription_id)):
            return subscription_id
    return None
