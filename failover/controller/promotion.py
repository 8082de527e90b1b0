"""Promotion of one tenant whose primary was lost (DESIGN.md, "Failover", steps 1-5).

1. read the placement and its revision;
2. seal the in-sync replicas at an epoch above it: the old primary, which needs every
   in-sync member's acknowledgement (and may shrink that set only by a CAS, which
   would fail step 4), can no longer acknowledge anything;
3. pick the sealed member with the highest seq (another hazard zone, then load);
4. write the new placement only if its revision is unchanged: the new revision is
   the new epoch; a lost race starts again from step 1;
5. tell the new primary its epoch; gateways learn by their etcd watch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from failover.controller.ports import Copies
from failover.coordination.interface import Coordination, Leadership, PlacementConflict
from failover.placement.policy import Placement, SiteInfo, choose_promotion

log = logging.getLogger("yui.failover")

SEAL_TIMEOUT_SECONDS = 2.0
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Promotion:
    tenant: str
    old_primary: str
    new_primary: str | None
    epoch: int | None
    sealed: dict[str, int]
    seconds: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.new_primary is not None


async def _seal_all(
    copies: Copies, sites: Iterable[str], tenant: str, epoch: int
) -> dict[str, int]:
    """Seal every reachable candidate in parallel; an unreachable one is simply not a candidate."""
    names = list(sites)

    async def one(site: str) -> int | None:
        try:
            async with asyncio.timeout(SEAL_TIMEOUT_SECONDS):
                return (await copies.seal(site, tenant, epoch)).durable_seq
        except Exception as error:  # unreachable or refusing: it cannot be promoted now
            log.warning("seal of %s at %s failed: %s", tenant, site, error)
            return None

    results = await asyncio.gather(*(one(site) for site in names))
    return {site: seq for site, seq in zip(names, results, strict=True) if seq is not None}


def promoted_placement(placement: Placement, new_primary: str, sealed: dict[str, int]) -> Placement:
    """The new primary; the old one stays a replica (it rejoins and catches up) but out of
    the in-sync set, as does every member that did not seal."""
    replicas = tuple(s for s in (placement.primary, *placement.replicas) if s != new_primary)
    in_sync = tuple(s for s in placement.in_sync if s != new_primary and s in sealed)
    return replace(placement, primary=new_primary, replicas=replicas, in_sync=in_sync)


async def promote(
    coordination: Coordination,
    copies: Copies,
    tenant: str,
    lost_site: str,
    sites: list[SiteInfo],
    *,
    leader: Leadership | None = None,
    primaries: dict[str, int] | None = None,
) -> Promotion:
    started = time.monotonic()
    for _attempt in range(MAX_ATTEMPTS):
        placement, revision = await coordination.get_placement(tenant)  # step 1
        if placement is None:
            return Promotion(tenant, lost_site, None, None, {}, 0.0, "no placement")
        if placement.primary != lost_site:  # someone else already moved it
            return Promotion(
                tenant, lost_site, placement.primary, revision, {}, 0.0, "already moved"
            )
        if leader is not None and not leader.is_leader:
            # A seal without the placement write that follows it stalls the tenant (its
            # replicas refuse its primary): a controller that lost the role seals nothing.
            return Promotion(
                tenant,
                lost_site,
                None,
                None,
                {},
                time.monotonic() - started,
                "この制御器は役を失いました / this controller lost the role",
            )
        candidates = [s for s in placement.in_sync if s != lost_site]
        sealed = await _seal_all(copies, candidates, tenant, revision + 1)  # step 2
        choice = choose_promotion(
            placement, sites, sealed, lost_site, primaries=primaries
        )  # step 3
        if choice is None:
            return Promotion(
                tenant,
                lost_site,
                None,
                None,
                sealed,
                time.monotonic() - started,
                "昇格できる同期レプリカがありません / no in-sync replica could be sealed",
            )
        new = promoted_placement(placement, choice, sealed)
        try:
            epoch = await coordination.put_placement_if(
                tenant, new, revision, leader=leader
            )  # step 4
        except PlacementConflict:
            continue  # the placement moved meanwhile: start again from a fresh read
        await copies.promote(choice, tenant, epoch)  # step 5
        return Promotion(tenant, lost_site, choice, epoch, sealed, time.monotonic() - started)
    return Promotion(
        tenant, lost_site, None, None, {}, time.monotonic() - started, "too many conflicts"
    )
