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
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import httpx

from failover.controller.decision import (
    Decision,
    Snapshot,
    after_etcd_outage,
    decide,
    lost_sites,
)
from failover.controller.detection import ControllerTiming, Probes, probe
from failover.controller.engine import Promotion, promote_lost
from failover.controller.ports import Copies
from failover.controller.repair import Restorer
from failover.controller.seals import SealCopies, StraySeals
from failover.coordination.interface import (
    ClusterView,
    Coordination,
    CoordinationUnavailable,
    Leadership,
)
from failover.placement.policy import SiteInfo
from yui.tls import peer_verify

log = logging.getLogger("yui.failover")

#: how long the refusals that ended a controller's term count as the next term's probes
#: of its site (a node restarted since answers its probes again, and is kept)
REFUSALS_KEPT_SECONDS = 1.5


class Controller:
    """The shell around :func:`failover.controller.decision.decide`: it keeps what the
    controller remembers (sites seen alive, since when a key is missing, the probes),
    takes a fresh snapshot every tick, and carries the decision out (the move engine)."""

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
        #: when this node's view, connected, first missed the key of a site seen alive
        self.absent_since: dict[str, float] = {}
        #: tenants whose promotion is under way
        self._promoting: set[str] = set()
        #: the lost sites last reported, with why (each change is logged once)
        self._reported: dict[str, str] = {}
        #: where the promotions and restorations run: they outlive a tick, and end with
        #: the controller
        self._work: asyncio.TaskGroup | None = None
        self._known_urls: dict[str, str] = {}
        #: the controller's site as this candidate last saw it refuse connections: the
        #: refusals in a row, and when the last one came. They count in the next term's
        #: probes of it, whoever ended the old term
        self._controller_refusals: tuple[str, int, float] | None = None
        #: set by the probes when a site has just become lost: the loop ticks at once
        self._tick_now = asyncio.Event()
        self.started = time.monotonic()
        self.restorer = Restorer(coordination, view, self.timing, self.probes, self.started)

    async def run(self) -> None:
        """Campaign, and lead when elected, for as long as the node runs. An error ends
        one campaign (its leadership resigns), never the candidacy: a node whose
        controller task had died stayed silent, and with every candidate gone no
        controller was elected after the leader's site was killed (the soak's
        unrecovered tenants)."""
        async with asyncio.TaskGroup() as work:
            self._work = work
            work.create_task(self._remember_live_sites())
            work.create_task(self._watch_the_controller())
            while True:
                try:
                    await self._campaign()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("controller %s failed; campaigning again", self.node_id)
                await asyncio.sleep(self.timing.tick_seconds)

    async def _remember_live_sites(self) -> None:
        """Candidates too note which sites they have seen alive, where they answer, and
        since when a key is missing: a controller elected because the old one's site
        died must still know that site was alive, and probe it."""
        while True:
            self._observe_sites(time.monotonic())
            await asyncio.sleep(self.timing.tick_seconds)

    async def _watch_the_controller(self) -> None:
        """Candidates probe the controller's site too, and end its term when the site is
        gone: its /healthz refused ``probe_failures`` times in a row (nothing listens:
        the node, which runs the controller, is dead) after it answered in this term.
        Waiting for the leader key's lease instead took 3 s, and ~5.5 s when the site also
        held etcd's raft leader (etcd extends every lease when a new raft leader takes
        over), before the new controller could even start detecting the lost primaries.
        Only refusals count: a slow or cut-off site (a timeout) keeps its term until its
        lease says otherwise. Safety does not hang on this: the controller's writes are
        fenced by its term, and a holder still alive steps down at its next renewal."""
        watched, answered, watch, ended_term = 0, False, Probes(), 0
        async with httpx.AsyncClient(
            timeout=self.timing.probe_timeout_seconds, verify=peer_verify()
        ) as client:
            while True:
                await asyncio.sleep(watch.next_probe_in(self.timing))
                holder = self.view.controller
                if holder is None or holder[0] == self.node_id or not self.view.connected:
                    continue
                node, term = holder
                url = self._known_urls.get(node)
                if url is None:
                    continue
                if term != watched:  # a new term: it must answer before it can be judged
                    watched, answered, watch = term, False, Probes()
                outcome = await probe(client, url)
                watch.record(node, outcome)
                answered = answered or node in watch.answered
                refusals = watch.failures[node]
                if answered:
                    # every candidate keeps what it saw: whichever wins the election
                    self._controller_refusals = (
                        (node, refusals, time.monotonic()) if refusals else None
                    )
                if answered and refusals >= self.timing.probe_failures and term != ended_term:
                    ended_term = term  # once per term (the view may still show it a while)
                    try:
                        ended = await self.coordination.end_controller_term(term)
                    except CoordinationUnavailable as error:
                        log.info("could not end controller term %d: %s", term, error)
                        ended_term = 0  # again at the next refusal
                        continue
                    if ended:
                        log.warning(
                            "controller %s (term %d): its site refuses connections; "
                            "its term is ended so that another is elected now",
                            node,
                            term,
                        )

    def _remember_the_old_controllers_site(self) -> None:
        """Elected after a controller's term ended because its site refused connections:
        the refusals this candidate saw of it (in a row, the last one just now) are this
        term's first probes of it, also when another candidate ended the term before this
        one had counted all of them. When the site also held primaries (the controller
        runs in a site node), the new term fails them over at once, or after the probes it
        still lacks, instead of probing a dead site three times more."""
        seen, self._controller_refusals = self._controller_refusals, None
        if seen is None:
            return
        site, refusals, at = seen
        if time.monotonic() - at <= REFUSALS_KEPT_SECONDS:
            self.probes.failures[site] = refusals
            self.probes.answered.discard(site)

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

    def observe(self, now: float | None = None) -> Snapshot:
        """A fresh snapshot of what this node sees, after noting it (sites seen alive,
        since when a key is missing)."""
        now = time.monotonic() if now is None else now
        live = self._observe_sites(now)
        return Snapshot(
            now=now,
            connected=self.view.connected,
            connected_since=self.view.connected_since,
            silence_before=self.view.silence_before,
            live=frozenset(live),
            placements=dict(self.view.placements()),
            seen=frozenset(self.probes.seen),
            absent_since=dict(self.absent_since),
            failing=frozenset(self.probes.failing(self.timing)),
            answered=frozenset(self.probes.answered),
            settled=now - self.started > self.timing.startup_grace_seconds,
            promoting=frozenset(self._promoting),
            # every probe's outcome is recorded under failures (0 when it answered)
            unprobed=frozenset(self._known_urls.keys() - self.probes.failures.keys()),
        )

    def after_etcd_outage(self, now: float | None = None) -> bool:
        """Whether etcd has just come back from a silence long enough to have cost live
        sites their leases (failover.controller.decision.after_etcd_outage)."""
        return after_etcd_outage(self.observe(now), self.timing)

    def lost_sites(self) -> set[str]:
        """Sites that hold a primary but are gone (failover.controller.decision)."""
        return set(lost_sites(self.observe(), self.timing))

    async def _campaign(self) -> None:
        async with self.coordination.campaign(self.node_id) as leadership:
            while True:
                await leadership.wait_elected()
                log.info("controller %s elected (term %s)", self.node_id, leadership.term)
                self.probes.clear()
                self._remember_the_old_controllers_site()
                async with asyncio.TaskGroup() as term:  # the probes and the sweeps: one term
                    prober = term.create_task(self._probe_forever())
                    sweeper = term.create_task(self._lift_stray_seals(leadership))
                    while leadership.is_leader:
                        self.tick(leadership)
                        await self._until_next_tick()
                    prober.cancel()
                    sweeper.cancel()

    async def _lift_stray_seals(self, leadership: Leadership) -> None:
        """Every ``seal_scan_seconds`` while leading: give a new epoch to tenants whose
        replicas an unfinished promotion sealed (failover.controller.seals)."""
        if not isinstance(self.copies, SealCopies):
            return  # copies that cannot report their state (some tests' fakes)
        seals = StraySeals(self.coordination, self.copies)
        while leadership.is_leader:
            await asyncio.sleep(self.timing.seal_scan_seconds)
            lost = self.lost_sites()
            busy = set(self._promoting) | {
                tenant for tenant, p in self.view.placements().items() if p.primary in lost
            }
            try:
                await seals.scan(leadership, skip=busy)
            except Exception as error:  # etcd or a site unreachable: the next scan
                log.info("controller %s: stray-seal scan failed: %r", self.node_id, error)

    async def _until_next_tick(self) -> None:
        """A tick's wait, cut short when the probes have just found a lost site."""
        self._tick_now.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timing.tick_seconds):
                await self._tick_now.wait()

    def tick(self, leadership: Leadership) -> None:
        """One turn of the loop: a fresh snapshot, the decision, and its execution."""
        snapshot = self.observe()
        decision = decide(snapshot, self.timing)
        self._report(decision)
        if not snapshot.connected:
            return  # no failover without etcd (static stability)
        if decision.promote:
            self._promote(decision.promote, snapshot, leadership)
        for restoration in self.restorer.tick(leadership):
            self._spawn(restoration)

    def _report(self, decision: Decision) -> None:
        for site, why in decision.lost.items():
            if self._reported.get(site) != why:
                log.warning("controller %s: site %s is lost: %s", self.node_id, site, why)
        self._reported = dict(decision.lost)

    def _promote(
        self, orphans: Mapping[str, str], snapshot: Snapshot, leadership: Leadership
    ) -> None:
        sites = [record.to_site_info() for record in self.view.sites().values()]
        primaries = Counter(p.primary for p in snapshot.placements.values())
        self._promoting |= set(orphans)
        self._spawn(self._promote_batch(dict(orphans), sites, primaries, leadership))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the controller's task group (it handles its own errors)."""
        if self._work is None:
            work.close()
            raise RuntimeError("the controller moves tenants only while it runs (Controller.run)")
        self._work.create_task(work)

    async def _promote_batch(
        self,
        orphans: dict[str, str],
        sites: list[SiteInfo],
        primaries: Mapping[str, int],
        leadership: Leadership,
    ) -> None:
        try:
            results = await promote_lost(
                self.coordination,
                self.copies,
                orphans,
                sites,
                leader=leadership,
                primaries=primaries,
            )
        except Exception as error:  # etcd unreachable before a placement was read: next tick
            log.error("promotion of %s failed: %s", ", ".join(orphans), error)
            return
        finally:
            self._promoting.difference_update(orphans)
        for result in results:
            log.info(
                "promotion %s: %s -> %s (epoch %s, %.3f s) %s",
                result.tenant,
                result.old_primary,
                result.new_primary,
                result.epoch,
                result.seconds,
                result.reason,
            )
            try:
                self.on_promotion(result)
            except Exception:  # the caller's hook: not a reason to stop the controller
                log.exception("on_promotion failed for %s", result.tenant)

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
                failing = self.probes.failing(self.timing)
                for name, outcome in zip(urls, results, strict=True):
                    self.probes.record(name, outcome)
                if self.probes.failing(self.timing) - failing:
                    self._tick_now.set()  # a site just became lost: decide now, not next tick
                await asyncio.sleep(self.probes.next_probe_in(self.timing))
