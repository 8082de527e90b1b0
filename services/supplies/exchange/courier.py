"""The courier of EDXL-RM deliveries between municipalities: this site's own front door.

A delivery is posted to this site's own URL (`front_door`), whose gateway routes it to the
receiving municipality's primary by this site's view of the placements — never by
anything a client said — and forwards it over the sites' mutual-TLS, signed path when
that primary is elsewhere. The delivery itself carries this site's signature
(supplies.exchange.signing), which the receiver checks against the sites it trusts.
"""

from __future__ import annotations

import time
from typing import Protocol

import httpx

from supplies.exchange import signing as sig
from supplies.exchange.job import Answer


class Signer(Protocol):
    """This site's identity (the composition root lends the site's key)."""

    @property
    def site(self) -> str: ...

    def sign(self, data: bytes) -> str: ...


class HttpCourier:
    def __init__(self, signer: Signer, http: httpx.Client, front_door: str) -> None:
        self.signer = signer
        self.http = http
        self.front_door = front_door.rstrip("/")

    def deliver(
        self, *, from_tenant: str, to_tenant: str, message_id: str, epoch: int, body: bytes
    ) -> Answer:
        timestamp = str(int(time.time()))
        data = sig.signing_input(
            self.signer.site, from_tenant, to_tenant, message_id, timestamp, str(epoch), body
        )
        headers = {
            "content-type": "application/xml",
            sig.SITE_HEADER: self.signer.site,
            sig.FROM_HEADER: from_tenant,
            sig.MESSAGE_HEADER: message_id,
            sig.TIME_HEADER: timestamp,
            sig.EPOCH_HEADER: str(epoch),
            sig.SIGNATURE_HEADER: self.signer.sign(data),
        }
        url = f"{self.front_door}/api/v1/{to_tenant}/supplies/exchange/inbound"
        try:
            response = self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return Answer(503, f"{type(error).__name__}: {error}")
        detail = ""
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("detail", ""))
            except ValueError:
                detail = response.text[:500]
        return Answer(response.status_code, detail)
