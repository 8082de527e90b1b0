"""Restoring the replication factor after a site is lost (DESIGN.md, "Failover / Promotion":
"then restore the replication factor on another site").

Every tick of the elected controller: a member of a tenant's placement whose site has
been gone (no lease key, or failing probes) for longer than ``restore_grace_seconds``
no longer counts as a copy. If the tenant's primary is live and an available site
without a copy fits the policy (``plan_restoration``), the placement gains a replica
there by a compare-and-swap at the revision just read. The new replica is outside the
in-sync set: the primary bootstraps it (snapshot + log tail) and a CAS of its own adds
it to the in-sync set once it has caught up.

The lost member stays in the placement as a replica outside the in-sync set. When its
site returns, the primary streams to it: a deposed primary is refused (lower epoch),
its unacknowledged tail goes to quarantine when it is reseeded, and it catches up and
rejoins the in-sync set like any replica — the tenant then has one copy more than the
factor until an operator moves one. (Dropping it instead would leave a returning
deposed primary with nobody streaming to it: its tail would never reach quarantine.)

Timing never affects safety: a wrong verdict adds a copy (data is copied, nothing is
acknowledged differently), and every change is a CAS at the read revision.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any

from failover.controller.detection import ControllerTiming, Probes
from failover.coordination.interface import (
    ClusterView,
    Coordination,
    Leadership,
    PlacementConflict,
    SiteRecord,
)
from failover.placement.policy import Restoration, SiteInfo, plan_restoration

log = logging.getLogger("yui.failover")


@dataclass(frozen=True)
class Restored:
    """One attempt: the replica added (``site``) at ``epoch``, or why not (``reason``)."""

    tenant: str
    site: str | None
    epoch: int | None
    reason: str = ""


class Restorer:
    """The controller's repair step: one task per tenant, never two at once. It reads
    what the controller sees (its view, timing and probes), and writes through
    ``coordination``."""

    def __init__(
        self,
        coordination: Coordination,
        view: ClusterView,
        timing: ControllerTiming,
        probes: Probes,
        started: float,
    ) -> None:
        self.coordination = coordination
        self.view = view
        self.timing = timing
        self.probes = probes
        #: when the controller started (monotonic): its start-up grace counts from there
        self.started = started
        #: site -> when the controller first saw it gone (monotonic)
        self.down_since: dict[str, float] = {}
        #: tenant -> the last verdict logged, so an unchanged one is logged once
        self.verdicts: dict[str, str] = {}
        #: tenants whose restoration is under way
        self._inflight: set[str] = set()
        #: every site seen registered: a site whose lease key is gone is still known
        self.records: dict[str, SiteRecord] = {}

    def gone(self) -> set[str]:
        """Sites known (registered once, or named by a placement) that are gone now,
        remembering since when: they take no new copy, and count as lost after the grace."""
        live = self.view.sites()
        self.records.update(live)
        members = {s for p in self.view.placements().values() for s in p.copies} | set(self.records)
        settled = time.monotonic() - self.started > self.timing.startup_grace_seconds
        failing = self.probes.failing(self.timing)
        gone = {
            s
            for s in members
            if (s in self.probes.seen or settled) and (s not in live or s in failing)
        }
        now = time.monotonic()
        for site in gone:
            self.down_since.setdefault(site, now)
        for site in set(self.down_since) - gone:
            self.down_since.pop(site)
        return gone

    def lost(self) -> set[str]:
        """Sites gone longer than the grace: their copies no longer count."""
        now = time.monotonic()
        grace = self.timing.restore_grace_seconds
        return {s for s, since in self.down_since.items() if now - since >= grace}

    def sites(self, lost: set[str]) -> list[SiteInfo]:
        """Every site seen registered; the lost ones unavailable."""
        return [r.to_site_info(available=r.name not in lost) for r in self.records.values()]

    def tick(self, leadership: Leadership) -> list[Coroutine[Any, Any, None]]:
        """The restorations to start now (the controller runs them in its task group)."""
        started: list[Coroutine[Any, Any, None]] = []
        gone = self.gone()
        lost = self.lost()
        sites = self.sites(lost)
        placements = list(self.view.placements().values())
        for placement in placements:
            tenant = placement.tenant
            if placement.primary in gone or tenant in self._inflight:
                continue  # its promotion comes first; or a restore is under way
            if any(m not in self.records and m not in lost for m in placement.copies):
                continue  # a member not seen yet (starting) is not a missing copy
            plan = plan_restoration(placement, sites, placements, suspect=gone)
            self._note(plan)
            if plan.target is None:
                continue
            self._inflight.add(tenant)
            started.append(self._restore(tenant, sites, gone, leadership))
        return started

    def _note(self, plan: Restoration) -> None:
        verdict = plan.summary() if plan.under_replicated else ""
        if verdict and self.verdicts.get(plan.tenant) != verdict:
            log.warning("tenant %s: %s", plan.tenant, verdict)
        self.verdicts[plan.tenant] = verdict

    async def _restore(
        self, tenant: str, sites: list[SiteInfo], suspect: set[str], leadership: Leadership
    ) -> None:
        try:
            result = await restore(self.coordination, self.view, tenant, sites, suspect, leadership)
        except Exception as error:  # etcd unreachable, leadership lost: next tick tries again
            log.error("restoring the copies of %s failed: %s", tenant, error)
            return
        finally:
            self._inflight.discard(tenant)
        if result.site is not None:
            log.info(
                "tenant %s: new replica at %s (epoch %s); it joins the in-sync set once caught up",
                tenant,
                result.site,
                result.epoch,
            )
        elif result.reason:
            log.info("tenant %s: no replica added: %s", tenant, result.reason)


async def restore(
    coordination: Coordination,
    view: ClusterView,
    tenant: str,
    sites: list[SiteInfo],
    suspect: set[str],
    leadership: Leadership,
) -> Restored:
    """Add the planned replica by a CAS at the revision read; a lost race adds nothing
    (the next tick plans again from the new placement)."""
    placement, revision = await coordination.get_placement(tenant)
    if placement is None:
        return Restored(tenant, None, None, "no placement")
    others = [p for t, p in view.placements().items() if t != tenant]
    plan = plan_restoration(placement, sites, [placement, *others], suspect=suspect)
    if plan.target is None:
        return Restored(tenant, None, None, plan.reason)
    wanted = replace(placement, replicas=(*placement.replicas, plan.target))
    try:
        epoch = await coordination.put_placement_if(tenant, wanted, revision, leader=leadership)
    except PlacementConflict:
        return Restored(tenant, None, None, "the placement changed meanwhile")
    return Restored(tenant, plan.target, epoch)
