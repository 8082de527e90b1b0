"""The HA loop, top to bottom (Patroni's habit): campaign; while leader, every tick,
find the tenants whose primary is lost and promote them, in batches (the move engine,
failover.controller.engine).

A site is lost when its lease key is gone (etcd's word), or, faster, when the
controller's direct probes of it fail several times in a row. Either way safety
comes from the seal and the compare-and-swap, never from the timing: a false
suspicion costs a needless move, not a lost or doubled write.

A missing key is not etcd's word when etcd itself was down: after an outage long
enough to cost live sites their leases, they hold their keys again one by one, so
for a grace (a TTL plus their registration retry interval) only the probes can make
a site lost; and a site whose probes answer is given the same grace from the moment
its key went missing (docs/failover.md, "etcd outage").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence

import httpx

from failover.controller.detection import ControllerTiming, Probes, probe
from failover.controller.engine import Promotion, promote_lost
from failover.controller.ports import Copies
from failover.controller.repair import Restorer
from failover.controller.seals import SealCopies, StraySeals
from failover.coordination.interface import ClusterView, Coordination, Leadership
from yui.tasks import cancel_and_wait
from yui.tls import peer_verify

log = logging.getLogger("yui.failover")


class Controller:
    def __init__(
        self,
        node_id: str,
        coordination: Coordination,
        view: ClusterView,
        copies: Copies,
        timing: ControllerTiming | None = None,
        on_promotion: Callable[[Promotion], None] | None = None,
    ) -> None:
        self.node_id = node_id
        self.coordination = coordination
        self.view = view
        self.copies = copies
        self.timing = timing or ControllerTiming()
        self.on_promotion = on_promotion or (lambda _p: None)
        self.probes = Probes()
        self.lost_since: dict[str, float] = {}
        #: when this node's view, connected, first missed the key of a site seen alive
        self.absent_since: dict[str, float] = {}
        #: tenants whose promotion is under way, and the batches promoting them
        self._inflight: set[str] = set()
        self._batches: set[asyncio.Task[list[Promotion]]] = set()
        self._known_urls: dict[str, str] = {}
        self.started = time.monotonic()
        self.restorer = Restorer(coordination, view, self.timing, self.probes, self.started)

    async def run(self) -> None:
        """Campaign, and lead when elected, for as long as the node runs. An error ends
        one campaign (its leadership resigns), never the candidacy: a node whose
        controller task had died stayed silent, and with every candidate gone no
        controller was elected after the leader's site was killed (the soak's
        unrecovered tenants)."""
        watcher = asyncio.create_task(self._remember_live_sites())
        try:
            while True:
                try:
                    await self._campaign()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("controller %s failed; campaigning again", self.node_id)
                await asyncio.sleep(self.timing.tick_seconds)
        finally:
            watcher.cancel()

    async def _remember_live_sites(self) -> None:
        """Candidates too note which sites they have seen alive, where they answer, and
        since when a key is missing: a controller elected because the old one's site
        died must still know that site was alive, and probe it."""
        while True:
            self._observe_sites(time.monotonic())
            await asyncio.sleep(self.timing.tick_seconds)

    def _observe_sites(self, now: float) -> set[str]:
        records = self.view.sites()
        live = set(records)
        self.probes.seen |= live
        self._known_urls.update({name: r.urls[0] for name, r in records.items() if r.urls})
        for site in live:
            self.absent_since.pop(site, None)
        if self.view.connected:  # a stale view's missing key says nothing new
            for site in self.probes.seen - live:
                self.absent_since.setdefault(site, now)
        return live

    def after_etcd_outage(self, now: float | None = None) -> bool:
        """Whether etcd has just come back from a silence long enough to have cost live
        sites their leases: they are still registering again, one by one."""
        since = self.view.connected_since
        now = time.monotonic() if now is None else now
        return (
            since is not None
            and self.view.silence_before >= self.timing.outage_silence_seconds
            and now - since < self.timing.outage_grace_seconds
        )

    def _absence_counts(self, site: str, now: float) -> bool:
        """Whether a site's missing key makes it lost (its probes can, in any case).

        Not right after an etcd outage; not while its probes answer and its key has been
        missing less than the grace (a live site registering again). Otherwise the key is
        etcd's word: a site that cannot renew it while etcd serves fences itself.
        """
        if self.after_etcd_outage(now):
            return False
        missing = now - self.absent_since.get(site, now)
        return site not in self.probes.answered or missing >= self.timing.outage_grace_seconds

    async def _campaign(self) -> None:
        async with self.coordination.campaign(self.node_id) as leadership:
            while True:
                await leadership.wait_elected()
                log.info("controller %s elected (term %s)", self.node_id, leadership.term)
                self.probes.clear()
                prober = asyncio.create_task(self._probe_forever())
                sweeper = asyncio.create_task(self._lift_stray_seals(leadership))
                try:
                    while leadership.is_leader:
                        self.tick(leadership)
                        await asyncio.sleep(self.timing.tick_seconds)
                finally:
                    await cancel_and_wait(prober)
                    await cancel_and_wait(sweeper)

    async def _lift_stray_seals(self, leadership: Leadership) -> None:
        """Every ``seal_scan_seconds`` while leading: give a new epoch to tenants whose
        replicas an unfinished promotion sealed (failover.controller.seals)."""
        if not isinstance(self.copies, SealCopies):
            return  # copies that cannot report their state (some tests' fakes)
        seals = StraySeals(self.coordination, self.copies)
        while leadership.is_leader:
            await asyncio.sleep(self.timing.seal_scan_seconds)
            lost = self.lost_sites()
            busy = set(self._inflight) | {
                tenant for tenant, p in self.view.placements().items() if p.primary in lost
            }
            try:
                await seals.scan(leadership, skip=busy)
            except Exception as error:  # etcd or a site unreachable: the next scan
                log.info("controller %s: stray-seal scan failed: %r", self.node_id, error)

    def lost_sites(self) -> set[str]:
        """Sites that hold a primary but are gone: no lease key (see _absence_counts), or
        failing probes."""
        now = time.monotonic()
        live = self._observe_sites(now)
        primaries = {p.primary for p in self.view.placements().values()}
        # Only a site seen alive can be lost (sites still starting are not failures),
        # unless it stays away longer than a start-up grace.
        settled = time.monotonic() - self.started > self.timing.startup_grace_seconds
        suspects = {s for s in primaries if s in self.probes.seen or settled}
        by_probe = self.probes.failing(self.timing)
        return {
            s for s in suspects if s in by_probe or (s not in live and self._absence_counts(s, now))
        }

    def tick(self, leadership: Leadership) -> None:
        if not self.view.connected:
            return  # no failover without etcd (static stability)
        lost = self.lost_sites()
        now = time.monotonic()
        for site in lost:
            self.lost_since.setdefault(site, now)
        for site in set(self.lost_since) - lost:
            self.lost_since.pop(site)
        sites = [record.to_site_info() for record in self.view.sites().values()]
        primaries: dict[str, int] = {}
        for placement in self.view.placements().values():
            primaries[placement.primary] = primaries.get(placement.primary, 0) + 1
        orphans = {
            tenant: placement.primary
            for tenant, placement in self.view.placements().items()
            if placement.primary in lost and tenant not in self._inflight
        }
        if orphans:
            batch = asyncio.create_task(
                promote_lost(
                    self.coordination,
                    self.copies,
                    orphans,
                    sites,
                    leader=leadership,
                    primaries=primaries,
                )
            )
            self._inflight |= set(orphans)
            self._batches.add(batch)
            batch.add_done_callback(functools.partial(self._finished, list(orphans)))
        self.restorer.tick(leadership)

    def _finished(self, tenants: Sequence[str], batch: asyncio.Task[list[Promotion]]) -> None:
        self._inflight.difference_update(tenants)
        self._batches.discard(batch)
        if batch.cancelled():
            return
        error = batch.exception()
        if error is not None:  # etcd unreachable before a placement was read: next tick
            log.error("promotion of %s failed: %s", ", ".join(tenants), error)
            return
        for result in batch.result():
            log.info(
                "promotion %s: %s -> %s (epoch %s, %.3f s) %s",
                result.tenant,
                result.old_primary,
                result.new_primary,
                result.epoch,
                result.seconds,
                result.reason,
            )
            self.on_promotion(result)

    async def _probe_forever(self) -> None:
        async with httpx.AsyncClient(
            timeout=self.timing.probe_timeout_seconds, verify=peer_verify()
        ) as client:
            while True:
                records = dict(self.view.sites())
                urls = {name: r.urls[0] for name, r in records.items() if r.urls}
                self._known_urls.update(urls)
                # Keep probing sites without a key that hold a primary, or just lost their
                # key: their answers tell a live site registering again from a lost one.
                primaries = {p.primary for p in self.view.placements().values()}
                for name in {*primaries, *self.probes.failures, *self.probes.timeouts}:
                    if name not in urls and name in self._known_urls:
                        urls[name] = self._known_urls[name]
                results = await asyncio.gather(*(probe(client, url) for url in urls.values()))
                for name, outcome in zip(urls, results, strict=True):
                    self.probes.record(name, outcome)
                await asyncio.sleep(self.timing.probe_interval_seconds)
