"""The site node's link to the cluster (composition root): its etcd lease, the watch-fed
view of placements, and what the kernel asks of them — where to route a tenant's
requests, and whether this site may take a tenant's writes now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pydantic import ValidationError

from failover.coordination import connect_etcd
from failover.coordination.interface import (
    ClusterView,
    Coordination,
    CoordinationUnavailable,
    SiteRecord,
    SiteRegistration,
)
from failover.coordination.timing import CoordinationTiming
from yui.db.fencing import NotPrimary
from yui.errors import Unavailable
from yui.http.gateway import Route
from yui.settings import Settings, SettingsError

log = logging.getLogger("yui.cluster")

#: tenant → (entries, seconds) this site's copy lags behind, or None when it holds no usable copy
LagLookup = Callable[[str], tuple[int | None, float | None] | None]


def timing_of(settings: Settings) -> CoordinationTiming:
    try:
        return CoordinationTiming(
            lease_ttl_seconds=settings.lease_ttl_seconds,
            keepalive_interval_seconds=settings.keepalive_interval_seconds,
            retry_timeout_seconds=settings.retry_timeout_seconds,
        )
    except ValidationError as error:
        raise SettingsError(
            "YUI_LEASE_TTL_SECONDS / YUI_KEEPALIVE_INTERVAL_SECONDS / YUI_RETRY_TIMEOUT_SECONDS: "
            + str(error.errors()[0]["msg"])
        ) from None


class ClusterLink:
    def __init__(self, settings: Settings, coordination: Coordination | None = None) -> None:
        topology = settings.topology
        spec = topology.find(settings.site) if topology else None
        if spec is None:
            raise SettingsError("YUI_TOPOLOGY_FILE: etcd needs a topology naming this site")
        self.settings = settings
        self.site = settings.site
        self.record = SiteRecord.from_spec(spec)
        self.urls = {site.name: site.url for site in topology.sites} if topology else {}
        self.coordination = coordination or connect_etcd(
            settings.etcd_endpoint_list, timing=timing_of(settings)
        )
        self.view: ClusterView = self.coordination.cluster_view()
        self.registration: SiteRegistration | None = None
        self._registering: asyncio.Task[None] | None = None
        #: set by replication when it runs here: how far this site's copy lags
        self.local_lag: LagLookup = lambda _tenant: None

    async def start(self) -> None:
        # The view first: a site must serve with the placements it knows even when etcd
        # is down (static stability); registration retries in the background.
        loaded = await self.view.start()
        if not loaded:
            log.warning("etcd unreachable at start: serving without placements until it answers")
        self._registering = asyncio.create_task(self._register())

    async def _register(self) -> None:
        """Register, retrying while etcd is unreachable (the site serves meanwhile)."""
        while self.registration is None:
            try:
                self.registration = await self.coordination.register_site(self.record)
            except CoordinationUnavailable:
                log.warning("etcd unreachable: site registration retries")
                await asyncio.sleep(self.settings.keepalive_interval_seconds)

    async def stop(self) -> None:
        if self._registering is not None:
            self._registering.cancel()
        if self.registration is not None:
            await self.registration.close()
        await self.view.close()
        await self.coordination.close()

    def url_of(self, site: str) -> str | None:
        record = self.view.site(site)
        if record is not None and record.urls:
            return record.urls[0]
        return self.urls.get(site)

    def route(self, tenant: str) -> Route | None:
        placement = self.view.placement(tenant)
        if placement is None:
            return None
        lag = self.local_lag(tenant) if self.site in placement.replicas else None
        return Route(
            primary=placement.primary,
            primary_url=self.url_of(placement.primary),
            has_local_copy=lag is not None,
            lag_entries=lag[0] if lag else None,
            lag_seconds=lag[1] if lag else None,
        )

    def write_gate(self, tenant: str) -> None:
        placement = self.view.placement(tenant)
        if placement is not None and placement.primary != self.site:
            raise NotPrimary(
                f"{tenant} の主系は {placement.primary} です / the primary of {tenant} is {placement.primary}"
            )
        if self.registration is not None and not self.registration.registered:
            # Self-fencing: a primary that cannot renew its lease stops taking writes.
            # Safety does not rest on this (the replicas' seal does); it bounds what an
            # isolated async primary can accept.
            raise Unavailable(
                "etcd のリースを更新できません / this site cannot renew its etcd lease; writes are paused"
            )
