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

    # ------------------------------------------------------------------ test side

    def put(self, placement: TenantPlacement) -> TenantPlacement:
        """Write a placement (the controller's doing); it gets the next revision."""
        self.revision += 1
        stored = replace(placement, epoch=self.revision)
        self._placements[placement.tenant] = stored
        return stored

    def forget(self, tenant: str) -> None:
        """The tenant's placement becomes unknown (as to a node whose view of etcd is not
        loaded yet); ``put`` makes it known again."""
        self._placements.pop(tenant, None)

    # ------------------------------------------------------------------ the port

    def placement(self, tenant: str) -> TenantPlacement | None:
        return self._placements.get(tenant)

    def placements(self) -> Mapping[str, TenantPlacement]:
        return dict(self._placements)

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
        stored = self.put(replace(current, in_sync=in_sync))
        self.calls.append((kind, tenant, names, expected_epoch, True))
        return IsrChange(True, stored)
