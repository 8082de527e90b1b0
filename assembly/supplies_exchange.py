"""Relief supplies' deliveries between municipalities, wired to this site.

The delivery job (supplies.exchange.job) needs a courier: this site's own front door
(its URL in the topology: the gateway there routes by this site's view of the
placements and forwards over the sites' mutual-TLS, signed path), this site's key to
sign each delivery, and the site's TLS client context. The receiving sites verify the
signature with the trust store the gateway's forwards use (`app.state.site_signatures`).
"""

from __future__ import annotations

import httpx

from replication.setup import site_key
from supplies.exchange.courier import HttpCourier
from supplies.exchange.job import delivery_kind
from yui.jobs.kinds import JobKind
from yui.settings import Settings
from yui.tls import client_verify

#: a delivery is a few KiB; a receiver that does not answer in this long is retried later
DELIVERY_TIMEOUT_SECONDS = 30.0


def exchange_kind(settings: Settings) -> JobKind | None:
    """The delivery job of this site; None for a site without an address in a topology
    (a lone development site: no other municipality to deliver to)."""
    topology = settings.topology
    spec = topology.find(settings.site) if topology is not None else None
    if spec is None:
        return None
    http = httpx.Client(verify=client_verify(settings.tls_files), timeout=DELIVERY_TIMEOUT_SECONDS)
    return delivery_kind(HttpCourier(site_key(settings), http, spec.url))
