"""Stray seals: a promotion that sealed the in-sync replicas and then could not write its
placement (its controller lost the role half-way, e.g. a partitioned controller whose
partition healed mid-promotion). The placement still names the old primary, but its
replicas now refuse its epoch: the primary fences itself and the tenant's writes stall
for good (found by the soak: one tenant stuck for the rest of the run, nothing lost).

The controller looks for such seals every few seconds: a replica in the in-sync set
whose seal is above the placement's epoch, seen twice at the same placement revision (a
move in flight seals, then writes its placement, within seconds). Re-writing the same
placement by compare-and-swap gives the primary a new epoch above the seal; the primary
is promoted at it and its replicas take its entries again (the move engine's
reinstatement, failover.controller.engine.reinstate).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

from failover.controller.engine import reinstate
from failover.controller.ports import Copies
from failover.coordination.interface import Coordination, Leadership
from failover.placement.policy import Placement
from replication.protocol.many import Answers
from replication.protocol.wire import ReplicaStatus

log = logging.getLogger("yui.failover")

#: how long one site may take to report its copies' states
STATUS_SECONDS = 5.0


@runtime_checkable
class SealCopies(Copies, Protocol):
    """What the scan asks of the copies beyond a promotion: their states
    (replication.protocol.client.PeerClient has it)."""

    async def status_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]: ...


class StraySeals:
    def __init__(self, coordination: Coordination, copies: SealCopies) -> None:
        self.coordination = coordination
        self.copies = copies
        #: tenant -> (placement revision, highest seal) seen stray by the previous scan
        self._seen: dict[str, tuple[int, int]] = {}

    async def scan(self, leader: Leadership, skip: Collection[str] = ()) -> list[str]:
        """Lift the stray seals seen twice; return the tenants given a new epoch."""
        placements, _ = await self.coordination.list_placements()
        stray = await self._stray(placements)
        confirmed = [
            tenant
            for tenant, seen in stray.items()
            if self._seen.get(tenant) == seen and tenant not in skip
        ]
        self._seen = stray
        if not confirmed:
            return []
        back = await reinstate(
            self.coordination,
            self.copies,
            {t: placements[t].primary for t in confirmed},
            leader=leader,
            known=placements,
            attempts=1,  # a placement that moved meanwhile has its new epoch above the seal
        )
        lifted = []
        for tenant in confirmed:
            if back[tenant].epoch is None:
                log.warning("tenant %s: could not lift a stray seal: %s", tenant, back[tenant].note)
                continue
            log.warning(
                "tenant %s: a seal above its epoch %d was left by an unfinished promotion; %s",
                tenant,
                placements[tenant].epoch,
                back[tenant].note,
            )
            lifted.append(tenant)
            self._seen.pop(tenant, None)
        return lifted

    async def _stray(self, placements: dict[str, Placement]) -> dict[str, tuple[int, int]]:
        by_site: dict[str, list[str]] = {}
        for tenant, placement in placements.items():
            for site in placement.in_sync:
                by_site.setdefault(site, []).append(tenant)

        async def states(site: str, tenants: list[str]) -> dict[str, ReplicaStatus]:
            try:
                async with asyncio.timeout(STATUS_SECONDS):
                    answers = await self.copies.status_many(site, tenants)
            except Exception:  # an unreachable site: the failover loop's business
                return {}
            return {t: a for t, a in answers.items() if isinstance(a, ReplicaStatus)}

        stray: dict[str, tuple[int, int]] = {}
        for answers in await asyncio.gather(*(states(s, t) for s, t in by_site.items())):
            for tenant, status in answers.items():
                epoch = placements[tenant].epoch
                if status.sealed_epoch > epoch:
                    stray[tenant] = (epoch, max(status.sealed_epoch, stray.get(tenant, (0, 0))[1]))
        return stray
