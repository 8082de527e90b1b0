"""An in-memory coordination service for tests, honest about compare-and-swap.

Every write takes the next revision of one global counter (as etcd does) and becomes
the placement's epoch; a CAS succeeds only if the placement is still at the expected
epoch. Tests can hold CAS calls at a gate, make them fail, and see every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import replace

from replication.ports import IsrChange, TenantPlacement
from yui.errors import Unavailable


class MemoryPlacements:
    def __init__(self) -> None:
        self._placements: dict[str, TenantPlacement] = {}
        self.revision = 0
        #: when set, every CAS waits here until the test opens it
        self.gate: asyncio.Event | None = None
        #: when True, a CAS raises Unavailable (coordination unreachable)
        self.unreachable = False
        self.calls: list[tuple[str, str, tuple[str, ...], int, bool]] = []
        #: when True, the next CAS is applied, and then the service becomes unreachable
        #: before its answer arrives: the call raises, and reads keep answering what they
        #: answered before (a view whose watch was cut) until ``reachable_again``
        self.apply_then_fail = False
        self._frozen: dict[str, TenantPlacement] | None = None

    # ------------------------------------------------------------------ test side

    def put(self, placement: TenantPlacement) -> TenantPlacement:
        """Write a placement (the controller's doing); it gets the next revision."""
        self.revision += 1
        stored = replace(placement, epoch=self.revision)
        self._placements[placement.tenant] = stored
        return stored

    def reachable_again(self) -> None:
        """The service answers again; reads see every write made meanwhile."""
        self.unreachable = False
        self._frozen = None

    def forget(self, tenant: str) -> None:
        """The tenant's placement becomes unknown (as to a node whose view of etcd is not
        loaded yet); ``put`` makes it known again."""
        self._placements.pop(tenant, None)

    # ------------------------------------------------------------------ the port

    def placement(self, tenant: str) -> TenantPlacement | None:
        return self.placements().get(tenant)

    def placements(self) -> Mapping[str, TenantPlacement]:
        return dict(self._placements if self._frozen is None else self._frozen)

    async def shrink_isr(
        self, tenant: str, remove: Collection[str], expected_epoch: int
    ) -> IsrChange:
        return await self._cas("shrink", tenant, tuple(remove), expected_epoch)

    async def expand_isr(self, tenant: str, add: Collection[str], expected_epoch: int) -> IsrChange:
        return await self._cas("expand", tenant, tuple(add), expected_epoch)

    async def _cas(
        self, kind: str, tenant: str, names: tuple[str, ...], expected_epoch: int
    ) -> IsrChange:
        if self.gate is not None:
            await self.gate.wait()
        if self.unreachable:
            raise Unavailable("coordination unreachable (test)")
        current = self._placements.get(tenant)
        if current is None or current.epoch != expected_epoch:
            self.calls.append((kind, tenant, names, expected_epoch, False))
            return IsrChange(False, current)
        if kind == "shrink":
            in_sync = tuple(r for r in current.in_sync if r not in names)
        else:
            in_sync = tuple(r for r in current.replicas if r in current.in_sync or r in names)
        seen = dict(self._placements)
        stored = self.put(replace(current, in_sync=in_sync))
        self.calls.append((kind, tenant, names, expected_epoch, True))
        if self.apply_then_fail:
            self.apply_then_fail, self.unreachable, self._frozen = False, True, seen
            raise Unavailable("coordination unreachable after applying the change (test)")
        return IsrChange(True, stored)
