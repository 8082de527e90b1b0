"""What every ClusterView backend holds the same way: the last known placements, sites and
controller, read without waiting, and the change signal its waiters and listeners follow.
A backend fills the state (from an etcd watch, or from the in-memory store) and says when
it is loaded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from failover.coordination.interface import ClusterListener, ClusterView, SiteRecord
from failover.placement.policy import Placement


class HeldView(ClusterView):
    def __init__(self) -> None:
        self._placements: dict[str, Placement] = {}
        self._sites: dict[str, SiteRecord] = {}
        self._controller: tuple[str, int] | None = None
        self._revision = 0
        self._connected = False
        self._listeners: list[ClusterListener] = []
        self._changed = asyncio.Event()

    def placement(self, tenant: str) -> Placement | None:
        return self._placements.get(tenant)

    def placements(self) -> Mapping[str, Placement]:
        return MappingProxyType(dict(self._placements))

    def site(self, name: str) -> SiteRecord | None:
        return self._sites.get(name)

    def sites(self) -> Mapping[str, SiteRecord]:
        return MappingProxyType(dict(self._sites))

    @property
    def controller(self) -> tuple[str, int] | None:
        return self._controller

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def connected(self) -> bool:
        return self._connected

    def subscribe(self, listener: ClusterListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    async def wait_until(self, predicate: Callable[[ClusterView], bool]) -> None:
        while not predicate(self):
            await self._changed.wait()

    async def wait_for_revision(self, revision: int) -> None:
        await self.wait_until(lambda view: view.revision >= revision)

    def _signal(self) -> None:
        """Wake every waiter: the state changed."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
