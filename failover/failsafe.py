"""Failsafe mode, per tenant: a primary that lost its etcd lease keeps taking a tenant's
writes only while every site that holds a copy of that tenant answers and says that etcd
is down for it too.

This is the rule of Patroni's failsafe mode (a leader without the DCS stays primary only
while every member answers its /failsafe call). A copy that does not answer, or that still
sees etcd, may be on the side of a partition where a controller can seal and promote it:
the primary must then fence itself for that tenant, or it would write for ever beside the
new primary. Safety does not rest on this alone (the seal keeps a deposed primary from
gathering acknowledgements); it bounds what a cut-off primary accepts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import httpx

from failover.placement.policy import Placement

log = logging.getLogger("yui.failsafe")


class Failsafe:
    """The copies' sites' answers while our lease is lost; ``keeps`` decides per tenant."""

    def __init__(
        self, site: str, url_of: Callable[[str], str | None], valid_seconds: float
    ) -> None:
        self.site = site
        self._url_of = url_of
        #: how long an answer "etcd is down here" counts without a new one: one lease TTL,
        #: the time a lease lets a cut-off primary write anyway. One answer too slow on a
        #: busy machine does not fence a tenant; a copy silent for longer does.
        self.valid_seconds = valid_seconds
        self._down_at: dict[str, float] = {}  # site → when it last said etcd is down for it

    @property
    def without_etcd(self) -> frozenset[str]:
        """The sites whose last answer, within ``valid_seconds``, was that etcd is down."""
        oldest = time.monotonic() - self.valid_seconds
        return frozenset(site for site, at in self._down_at.items() if at >= oldest)

    def keeps(self, placement: Placement) -> bool:
        """May this site keep the tenant's writes without its lease? Only while every other
        copy of the tenant answered that etcd is down for it as well."""
        without = self.without_etcd
        return all(site in without for site in placement.replicas if site != self.site)

    def clear(self) -> None:
        """Our lease is held again: forget the answers (a later loss asks afresh)."""
        self._down_at.clear()

    async def check(self, client: httpx.AsyncClient, sites: Iterable[str]) -> None:
        """Ask each of ``sites`` (the sites holding copies of our tenants) at once."""
        names = sorted(set(sites) - {self.site})
        answers = await asyncio.gather(*(self._etcd_seen_by(client, name) for name in names))
        before = self.without_etcd
        now = time.monotonic()
        for name, seen in zip(names, answers, strict=True):
            if seen is False:
                self._down_at[name] = now
            elif seen is True:  # it sees etcd: it may be sealed and promoted there, at once
                self._down_at.pop(name, None)
        without = self.without_etcd
        if without != before:
            silent = [name for name, seen in zip(names, answers, strict=True) if seen is None]
            seeing = [name for name, seen in zip(names, answers, strict=True) if seen is True]
            log.warning(
                "failsafe: etcd down for %s too; no answer from %s; etcd seen by %s — a tenant "
                "keeps its writes only while all its copies are in the first group",
                sorted(without) or "-",
                silent or "-",
                seeing or "-",
            )

    async def _etcd_seen_by(self, client: httpx.AsyncClient, site: str) -> bool | None:
        """True / False: the site answered that it sees etcd / does not; None: no answer."""
        url = self._url_of(site)
        if url is None:
            return None
        try:
            body = (await client.get(f"{url}/readyz")).json()
        except (httpx.HTTPError, ValueError):
            return None
        checks = body.get("checks") if isinstance(body, dict) else None
        seen = checks.get("etcd") if isinstance(checks, dict) else None
        return seen if isinstance(seen, bool) else None
