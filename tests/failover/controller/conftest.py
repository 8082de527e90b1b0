"""The controller's and the move engine's unit tests: in-memory coordination (no etcd)
and in-memory copies, three sites in three hazard zones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from failover.coordination.interface import ClusterView, SiteRecord
from failover.coordination.memory import MemoryCoordination
from failover.placement.policy import Placement, SiteInfo
from tests.failover.controller.copies import MemoryCopies

ZONES = {"aws-tokyo": "kanto", "gcp-osaka": "kansai", "sakura-ishikari": "hokkaido"}
RECORDS = {
    name: SiteRecord(name, name.split("-")[0], name, (zone,), ()) for name, zone in ZONES.items()
}
SITES: list[SiteInfo] = [record.to_site_info() for record in RECORDS.values()]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class World:
    coordination: MemoryCoordination
    view: ClusterView
    copies: MemoryCopies

    async def place(
        self, tenant: str, primary: str, replicas: tuple[str, ...], seq: int = 10
    ) -> int:
        self.copies.place(tenant, primary, replicas, seq)
        return await self.coordination.put_placement_if(
            tenant, Placement(tenant, primary, replicas, replicas), 0
        )

    async def placement(self, tenant: str) -> Placement:
        placement, _ = await self.coordination.get_placement(tenant)
        assert placement is not None
        return placement


@pytest.fixture
async def world() -> AsyncIterator[World]:
    coordination = MemoryCoordination()
    for record in RECORDS.values():
        await coordination.register_site(record)
    view = coordination.cluster_view()
    await view.start()
    yield World(coordination, view, MemoryCopies(view))
    await coordination.close()
