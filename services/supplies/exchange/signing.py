"""What a site signs when it delivers an EDXL-RM message for one of its municipalities.

The inbound endpoint takes no staff token: a delivery comes from the sending
municipality's primary site, signed with that site's key (the same identity as its
replication and forwarding, lent through the kernel's `SiteSignatures`), under a context
string of its own, so a delivery's signature passes for nothing else and nothing else's
for a delivery. What is signed names both municipalities, the message id, the time and
the body's hash: a client cannot forge one, and a signed delivery cannot be replayed as
another municipality's or with another body.
"""

from __future__ import annotations

import hashlib

SITE_HEADER = "x-yui-exchange-site"
FROM_HEADER = "x-yui-exchange-from"
MESSAGE_HEADER = "x-yui-exchange-message"
TIME_HEADER = "x-yui-exchange-time"
EPOCH_HEADER = "x-yui-exchange-epoch"
SIGNATURE_HEADER = "x-yui-exchange-signature"
#: how far the sending site's clock may be from ours (a delivery is retried with a new time)
WINDOW_SECONDS = 300


def signing_input(
    site: str,
    from_tenant: str,
    to_tenant: str,
    message_id: str,
    timestamp: str,
    epoch: str,
    body: bytes,
) -> bytes:
    return "\n".join(
        (
            "yui-edxl-exchange-v1",
            site,
            from_tenant,
            to_tenant,
            message_id,
            timestamp,
            epoch,
            hashlib.sha256(body).hexdigest(),
        )
    ).encode()
