"""The site node's link to the cluster (composition root): its etcd lease, the watch-fed
view of placements, and what the kernel asks of them — where to route a tenant's
requests, and whether this site may take a tenant's writes now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace

import httpx
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_fixed

from failover.controller.detection import ControllerTiming
from failover.controller.loop import Controller
from failover.controller.ports import Copies
from failover.coordination import connect_etcd
from failover.coordination.interface import (
    ClusterView,
    Coordination,
    CoordinationUnavailable,
    PlacementConflict,
    SiteRecord,
    SiteRegistration,
)
from failover.coordination.timing import CoordinationTiming
from failover.failsafe import Failsafe
from failover.placement.policy import Placement
from replication.ports import IsrChange, TenantPlacement
from yui.db.fencing import NotPrimary
from yui.errors import Unavailable
from yui.http.gateway import Route
from yui.settings import Settings, SettingsError
from yui.tls import peer_verify

log = logging.getLogger("yui.cluster")

#: tries of one in-sync-set change (a read, then a CAS) before etcd is deemed unable to say
ISR_CAS_ATTEMPTS = 3

#: (tenant, its primary) → (entries, seconds) this site's copy lags behind that primary,
#: or None when it holds no copy whose lag it knows
LagLookup = Callable[[str, str], tuple[int, float] | None]


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
        #: each site's hazard zones, from the topology file: a lost site's lease record is
        #: gone from etcd, but its zones still decide whether the in-sync set spans zones
        self.zones: dict[str, frozenset[str]] = (
            {site.name: frozenset(site.hazard_zones) for site in topology.sites} if topology else {}
        )
        self.coordination = coordination or connect_etcd(
            settings.etcd_endpoint_list, timing=timing_of(settings), tls=settings.etcd_tls_files
        )
        self.view: ClusterView = self.coordination.cluster_view()
        self.registration: SiteRegistration | None = None
        self._registering: asyncio.Task[None] | None = None
        self._failsafe_task: asyncio.Task[None] | None = None
        self._controller_task: asyncio.Task[None] | None = None
        #: the tenants' copies as the controller reaches them (replication's signed client);
        #: set before start() to make this node a controller candidate
        self.copies: Copies | None = None
        self.controller: Controller | None = None
        #: while our lease is lost, the answers of the sites holding copies of our tenants:
        #: a tenant keeps its writes only while every site with a copy of it says etcd is
        #: down for it too (write_gate)
        self.failsafe_answers = Failsafe(self.site, self.url_of, settings.lease_ttl_seconds)
        #: True while our lease is lost and every site holding a copy of any of our tenants
        #: says etcd is down for it too (then every tenant of ours keeps its writes)
        self.failsafe = False
        #: set by replication when it runs here: how far this site's copy lags
        self.local_lag: LagLookup = lambda _tenant, _primary: None
        #: set by replication when it runs here: whether this site holds a copy of a tenant
        #: (asked only while the view has not loaded; without replication: assume it does)
        self.holds_copy: Callable[[str], bool] = lambda _tenant: True

    async def start(self) -> None:
        # The view first: a site must serve with the placements it knows even when etcd
        # is down (static stability); registration retries in the background.
        loaded = await self.view.start()
        if not loaded:
            log.warning("etcd unreachable at start: serving without placements until it answers")
        self._registering = asyncio.create_task(self._register())
        self._failsafe_task = asyncio.create_task(self._keep_failsafe())
        if self.copies is not None:
            # Every site node is a candidate; etcd elects one active controller.
            timing = ControllerTiming.for_coordination(
                timing_of(self.settings), restore_grace_seconds=self.settings.restore_grace_seconds
            )
            self.controller = Controller(
                self.site, self.coordination, self.view, self.copies, timing=timing
            )
            self._controller_task = asyncio.create_task(self.controller.run())

    async def _keep_failsafe(self) -> None:
        """While our lease is lost, ask every site holding a copy of one of our tenants
        whether etcd is down for it too (failover.failsafe: Patroni's rule, per tenant).

        A tenant whose copies all say so keeps its writes with the last placements (etcd is
        the failure: static stability); a tenant with a copy that does not answer, or that
        still sees etcd, is fenced here (we may be the one cut off, and that copy promoted).
        """
        answers = self.failsafe_answers
        async with httpx.AsyncClient(
            timeout=self.settings.retry_timeout_seconds, verify=peer_verify()
        ) as client:
            while True:
                await asyncio.sleep(self.settings.keepalive_interval_seconds)
                if self.holds_lease:
                    answers.clear()
                    self.failsafe = False
                    continue
                sites = self._sites_with_our_copies()
                await answers.check(client, sites)
                self.failsafe = not self.holds_lease and sites <= answers.without_etcd

    def _sites_with_our_copies(self) -> set[str]:
        """The sites holding a copy of a tenant this site is the primary of (last placements)."""
        return {
            site
            for placement in self.view.placements().values()
            if placement.primary == self.site
            for site in placement.replicas
            if site != self.site
        }

    async def _register(self) -> None:
        """Register, retrying while etcd is unreachable (the site serves meanwhile), every
        keep-alive interval (the registration retry interval of docs/failover.md)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(CoordinationUnavailable),
            wait=wait_fixed(self.settings.keepalive_interval_seconds),
            before_sleep=lambda _state: log.warning("etcd unreachable: site registration retries"),
        ):
            with attempt:
                self.registration = await self.coordination.register_site(self.record)

    async def stop(self) -> None:
        for task in (self._registering, self._failsafe_task, self._controller_task):
            if task is not None:
                task.cancel()
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
            if not self.view.loaded and self.holds_copy(tenant):
                # etcd not reached since start, and a copy is here: it may be a replica's
                return Route(primary=None, primary_url=None, has_local_copy=False)
            return None  # a lone site's tenant
        lag = self.local_lag(tenant, placement.primary) if self.site in placement.replicas else None
        return Route(
            primary=placement.primary,
            primary_url=self.url_of(placement.primary),
            has_local_copy=lag is not None,
            lag_entries=lag[0] if lag else None,
            lag_seconds=lag[1] if lag else None,
            primary_confirmed=placement.primary == self.site
            and (self.primary_confirmed or self._failsafe_keeps(placement)),
        )

    @property
    def primary_confirmed(self) -> bool:
        """Whether this site's own placements may be trusted to label an answer the
        primary's: its lease is live and its view current, or it is in failsafe mode
        (etcd down for every site it reaches; it then keeps its writes too)."""
        return (self.holds_lease and self.view.connected) or self.failsafe

    @property
    def holds_lease(self) -> bool:
        return self.registration is not None and self.registration.registered

    def _failsafe_keeps(self, placement: Placement) -> bool:
        """Without our lease: every copy of the tenant said etcd is down for it too."""
        return not self.holds_lease and self.failsafe_answers.keeps(placement)

    def write_gate(self, tenant: str) -> None:
        placement = self.view.placement(tenant)
        if placement is not None and placement.primary != self.site:
            raise NotPrimary(
                f"{tenant} の主系は {placement.primary} です / the primary of {tenant} is {placement.primary}"
            )
        if (
            not self.holds_lease
            and placement is not None
            and not self.failsafe_answers.keeps(placement)
        ):
            # Self-fencing: a primary that cannot renew its lease stops taking writes.
            # Safety does not rest on this (the replicas' seal does); it bounds what an
            # isolated async primary can accept.
            raise Unavailable(
                "etcd のリースを更新できません / this site cannot renew its etcd lease; writes are paused"
            )


class EtcdPlacements:
    """Replication's view of placements (replication.ports.Placements), on etcd.

    Reads come from the watch-fed view (never block, never raise); in-sync-set changes
    are compare-and-swaps on the placement's revision, which is its epoch.
    """

    def __init__(self, link: ClusterLink) -> None:
        self.link = link

    def _port(self, placement: Placement) -> TenantPlacement:
        return TenantPlacement(
            tenant=placement.tenant,
            primary=placement.primary,
            replicas=placement.replicas,
            in_sync=placement.in_sync,
            mode=placement.mode,
            min_insync=placement.min_insync,
            epoch=placement.epoch,
            min_insync_zones=placement.min_insync_zones,
            zones=self.link.zones,
        )

    def placement(self, tenant: str) -> TenantPlacement | None:
        found = self.link.view.placement(tenant)
        return self._port(found) if found is not None else None

    def placements(self) -> Mapping[str, TenantPlacement]:
        return {tenant: self._port(p) for tenant, p in self.link.view.placements().items()}

    async def _change_isr(
        self, tenant: str, expected_epoch: int, change: Callable[[tuple[str, ...]], tuple[str, ...]]
    ) -> IsrChange:
        """The CAS, settled: a call that failed without an answer (etcd unreachable, a
        timeout) may still have been applied, so the placement is read again and what
        etcd holds is the answer — a primary acting on "not applied" would acknowledge
        without a member etcd lists. While the placement is still at ``expected_epoch``
        the same CAS is sent again (at most one of the two can apply). Raises
        CoordinationUnavailable when etcd cannot say (the caller then assumes either)."""
        coordination = self.link.coordination
        wanted: Placement | None = None
        for attempt in range(ISR_CAS_ATTEMPTS):
            try:
                current, revision = await coordination.get_placement(tenant)
                if current is None or revision != expected_epoch:
                    # moved on: by another write, or by our unanswered one
                    applied = wanted is not None and current == replace(wanted, epoch=revision)
                    return IsrChange(applied, self._port(current) if current else None)
                wanted = replace(current, in_sync=change(current.in_sync))
                epoch = await coordination.put_placement_if(tenant, wanted, expected_epoch)
                return IsrChange(True, self._port(replace(wanted, epoch=epoch)))
            except PlacementConflict:
                continue  # the next read says what won
            except (CoordinationUnavailable, TimeoutError):
                if wanted is None:
                    raise  # nothing was sent: nothing to settle
                if attempt + 1 == ISR_CAS_ATTEMPTS:
                    raise CoordinationUnavailable(
                        f"テナント {tenant} の同期集合の変更が反映されたか etcd に確認できません / "
                        f"etcd did not answer whether the in-sync-set change of {tenant} was "
                        "applied"
                    ) from None
                log.warning("tenant %s: in-sync-set change unanswered; reading it back", tenant)
        raise CoordinationUnavailable(
            f"テナント {tenant} の配置が変わり続けています / the placement of {tenant} kept "
            "changing during an in-sync-set change"
        )

    async def shrink_isr(
        self, tenant: str, remove: Collection[str], expected_epoch: int
    ) -> IsrChange:
        gone = set(remove)
        return await self._change_isr(
            tenant, expected_epoch, lambda isr: tuple(s for s in isr if s not in gone)
        )

    async def expand_isr(self, tenant: str, add: Collection[str], expected_epoch: int) -> IsrChange:
        placement = self.link.view.placement(tenant)
        replicas = placement.replicas if placement else ()
        extra = [s for s in add if s in replicas]
        return await self._change_isr(
            tenant, expected_epoch, lambda isr: tuple(sorted({*isr, *extra}, key=replicas.index))
        )
