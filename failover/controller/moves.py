"""Planned moves: switchover, evacuation, failback (DESIGN.md, "Planned switchover /
evacuation": stop new writes on the old primary, wait for the ISR to catch up, seal,
CAS, resume on the new primary — zero loss, the pause measured).

One switchover of a tenant from its primary ``P`` to an in-sync replica ``X``:

1. read the placement (revision ``R``); ``X`` must be in its in-sync set;
2. **pause** at ``P``: new writes get a retryable 503 (Retry-After); ``P`` answers once
   every in-sync replica holds its log head (writes already waiting are acknowledged);
3. **seal** ``X`` at ``R + 1``: from now on ``X`` refuses ``P``'s epoch, so ``P`` can
   acknowledge nothing ``X`` lacks (whatever slipped past the pause);
4. **compare-and-swap** the placement with ``X`` as primary; ``P`` stays a replica, in
   the in-sync set when its head is no further than ``X``'s (it has everything);
5. **promote** ``X`` at the new epoch; gateways follow their etcd watch.

A failure before the seal releases the pause and changes nothing. A failure after
the seal (a lost CAS, a target that died) reinstates ``P``: the placement is rewritten
unchanged (a new epoch above the seal) and ``P`` is promoted at it, so its replicas
take its entries again. Either way the placement names a primary that holds every
acknowledged write. The mover is whoever calls these functions (the CLI, a drill, the
alert endpoint): every step is guarded by the seal and the CAS, so it may race the
controller's promotions safely (docs/failover.md, "Planned moves"). The steps are the
move engine's (failover.controller.engine): one switchover is a batch of one;
evacuations and failbacks move batches of tenants, one request per site and step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from failover.alerts.trigger import EvacuationRequest
from failover.controller.engine import MoveResult, Progress, switch
from failover.controller.ports import MoveCopies
from failover.coordination.interface import Coordination
from failover.placement.policy import Placement, SiteInfo, choose_promotion, rebalance
from yui.errors import Conflict, NotFound

log = logging.getLogger("yui.failover")

#: switchovers in flight at once during an evacuation or a failback: four batches of
#: BATCH_TENANTS (1,000 tenants: 5–8 s; one batch at a time: ~22 s, docs/benchmarks.md)
DEFAULT_CONCURRENCY = 400


class UnknownTenant(NotFound):
    slug = "unknown-tenant"
    title = "テナントの配置がありません / No placement for this tenant"


class MoveRefused(Conflict):
    """The move cannot start (nothing was changed)."""

    slug = "move-refused"
    title = "切り替えできません / The move cannot be made"


@dataclass
class Evacuation:
    site: str
    reason: str
    drill: bool
    results: list[MoveResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def moved(self) -> list[MoveResult]:
        return [r for r in self.results if r.ok and r.epoch is not None]

    @property
    def failed(self) -> list[MoveResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        pauses = [r.pause_seconds for r in self.results if r.pause_seconds is not None]
        return {
            "site": self.site,
            "reason": self.reason,
            "drill": self.drill,
            "tenants": len(self.results),
            "moved": len(self.moved),
            "failed": len(self.failed),
            "seconds": round(self.seconds, 3),
            "max_pause_seconds": round(max(pauses), 3) if pauses else None,
            "results": [r.to_json() for r in self.results],
        }


# --------------------------------------------------------------------------- one tenant


def choose_target(
    placement: Placement,
    sites: list[SiteInfo],
    primaries: Mapping[str, int] | None = None,
) -> str | None:
    """The in-sync replica the policy prefers: a live site outside the primary's hazard
    zones, then the fewest primaries per capacity (failover.placement.choose_promotion)."""
    even = dict.fromkeys(placement.in_sync, 0)  # all in sync: no seq preference
    return choose_promotion(placement, sites, even, placement.primary, primaries=primaries)


async def switchover(
    coordination: Coordination,
    copies: MoveCopies,
    tenant: str,
    target: str | None = None,
    *,
    source: str | None = None,
    sites: list[SiteInfo] | None = None,
    primaries: Mapping[str, int] | None = None,
) -> MoveResult:
    """Move ``tenant``'s primary to ``target`` (None: the replica the policy prefers).

    Raises :class:`UnknownTenant` or :class:`MoveRefused` before anything changes;
    ``source`` (when given) must still be the primary, else nothing is done (ok).
    Other failures come back as a result with ``ok=False``; the placement then names a
    primary that holds every acknowledged write (the old one, or the target).
    """
    placement, _ = await coordination.get_placement(tenant)
    if placement is None:
        raise UnknownTenant(f"テナント {tenant} の配置はありません / no placement for {tenant}")
    old = placement.primary
    if source is not None and old != source:
        return MoveResult(tenant, source, old, True, reason="already moved")
    if target is None:
        if sites is None:
            sites = [r.to_site_info() for r in (await coordination.list_sites()).values()]
        target = choose_target(placement, sites, primaries)
        if target is None:
            raise MoveRefused(
                f"テナント {tenant} には移せる同期レプリカがありません / {tenant} has no in-sync "
                f"replica to move to (in sync: {', '.join(placement.in_sync) or 'none'})"
            )
    if target == old:
        return MoveResult(tenant, old, target, True, reason="already the primary")
    if target not in placement.in_sync:
        raise MoveRefused(
            f"{target} はテナント {tenant} の同期レプリカではありません（同期: "
            f"{', '.join(placement.in_sync) or 'なし'}） / {target} is not an in-sync replica of "
            f"{tenant} (in sync: {', '.join(placement.in_sync) or 'none'})"
        )

    [result] = await switch(
        coordination, copies, [(tenant, target, old)], placements={tenant: placement}
    )
    return result


# --------------------------------------------------------------------------- many tenants


async def _sites(coordination: Coordination) -> list[SiteInfo]:
    return [r.to_site_info() for r in (await coordination.list_sites()).values()]


async def plan_evacuation(coordination: Coordination, site: str) -> list[tuple[str, str | None]]:
    """(tenant, target) for every tenant whose primary is at ``site``: targets by the
    policy, the evacuated site counting as unavailable, the load spread as planned."""
    placements, _ = await coordination.list_placements()
    sites = [
        replace(s, available=False) if s.name == site else s for s in await _sites(coordination)
    ]
    primaries = Counter(p.primary for p in placements.values())
    plan: list[tuple[str, str | None]] = []
    for tenant, placement in sorted(placements.items()):
        if placement.primary != site:
            continue
        target = choose_target(placement, sites, primaries)
        if target is not None:
            primaries[target] += 1
            primaries[site] -= 1
        plan.append((tenant, target))
    return plan


async def _moved_meanwhile(coordination: Coordination, site: str, result: MoveResult) -> MoveResult:
    """A tenant that did not move may have been promoted elsewhere by the controller
    meanwhile: then it is off ``site`` all the same."""
    if result.ok:
        return result
    current, _ = await coordination.get_placement(result.tenant)
    if current is not None and current.primary != site:
        return replace(result, ok=True, target=current.primary, epoch=current.epoch)
    return result


async def evacuate(
    coordination: Coordination,
    copies: MoveCopies,
    site: str,
    *,
    reason: str = "",
    drill: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> Evacuation:
    """Switch every primary off ``site`` in batches (``concurrency`` tenants in flight).
    Idempotent: tenants already moved are skipped, a second call moves what is left."""
    started = time.monotonic()
    plan = await plan_evacuation(coordination, site)
    if on_plan is not None:
        on_plan(len(plan))

    def moved(result: MoveResult) -> None:
        if result.ok and progress is not None:
            progress(result)

    moves = [(t, x, site) for t, x in plan]
    results = await switch(coordination, copies, moves, concurrency=concurrency, progress=moved)
    for index, result in enumerate(results):
        if not result.ok:
            results[index] = await _moved_meanwhile(coordination, site, result)
            if progress is not None:
                progress(results[index])
    evacuation = Evacuation(site, reason, drill, results, time.monotonic() - started)
    log.warning(
        "%sevacuation of %s: %d moved, %d failed in %.2f s (%s)",
        "[drill] " if drill else "",
        site,
        len(evacuation.moved),
        len(evacuation.failed),
        evacuation.seconds,
        reason,
    )
    return evacuation


async def request_evacuation(
    coordination: Coordination,
    copies: MoveCopies,
    site: str,
    reason: str,
    drill: bool = False,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> Evacuation:
    """The one entry point for an evacuation (CLI, drills, alert-driven): move every
    primary off ``site``. ``reason`` is logged and returned; ``drill`` labels it."""
    log.warning(
        "%sevacuation of %s requested: %s", "[訓練 / drill] " if drill else "", site, reason
    )
    return await evacuate(
        coordination,
        copies,
        site,
        reason=reason,
        drill=drill,
        concurrency=concurrency,
        progress=progress,
        on_plan=on_plan,
    )


async def plan_failback(
    coordination: Coordination, site: str | None = None
) -> list[tuple[str, str, str]]:
    """(tenant, source, target) of the switchovers the placement policy wants now
    (failover.placement.rebalance), only those toward ``site`` when it is given."""
    placements, _ = await coordination.list_placements()
    moves = rebalance(placements.values(), await _sites(coordination))
    return [
        (m.tenant, m.source, m.target)
        for m in moves
        if m.kind == "switchover" and m.source is not None and site in (None, m.target)
    ]


async def failback(
    coordination: Coordination,
    copies: MoveCopies,
    *,
    site: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> list[MoveResult]:
    """Carry out the policy's switchovers (primaries go back to a returned site)."""
    plan = await plan_failback(coordination, site)
    if on_plan is not None:
        on_plan(len(plan))

    # a returned site not in sync yet is refused (ok=False): run failback again later
    moves = [(t, x, s) for t, s, x in plan]
    return await switch(coordination, copies, moves, concurrency=concurrency, progress=progress)


class MoveTrigger:
    """The alerts' :class:`failover.alerts.EvacuationTrigger`, carried out by
    :func:`request_evacuation`."""

    def __init__(self, coordination: Coordination, copies: MoveCopies) -> None:
        self.coordination = coordination
        self.copies = copies

    async def evacuate(self, site: str, reason: EvacuationRequest) -> None:
        result = await request_evacuation(
            self.coordination, self.copies, site, reason.text(), reason.drill
        )
        if not result.ok:
            raise MoveRefused(
                f"{site} の退避で {len(result.failed)} 件が移せませんでした / evacuation of {site}: "
                f"{len(result.failed)} tenant(s) could not move: "
                + "; ".join(f"{r.tenant}: {r.reason}" for r in result.failed[:5])
            )


class BackgroundEvacuations:
    """An :class:`failover.alerts.EvacuationTrigger` that answers at once and evacuates
    in the background — what the alert endpoint needs: a sender must not wait minutes
    for 1,000 switchovers, and the same warning arrives again as Updates while the first
    evacuation runs (one evacuation per site at a time; a repeat is a no-op)."""

    def __init__(self, trigger: MoveTrigger) -> None:
        self.trigger = trigger
        self.running: dict[str, asyncio.Task[None]] = {}

    async def evacuate(self, site: str, reason: EvacuationRequest) -> None:
        task = self.running.get(site)
        if task is not None and not task.done():
            log.info("evacuation of %s already running: %s", site, reason.text())
            return
        self.running[site] = asyncio.create_task(self._run(site, reason), name=f"evacuate-{site}")

    async def _run(self, site: str, reason: EvacuationRequest) -> None:
        try:
            await self.trigger.evacuate(site, reason)
        except Exception:  # logged for the operator; the controller's failover still applies
            log.exception("alert-driven evacuation of %s did not complete", site)

    async def close(self) -> None:
        for task in self.running.values():
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        self.running.clear()
