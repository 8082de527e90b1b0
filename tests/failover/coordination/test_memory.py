"""The in-memory coordination (failover/coordination/memory.py) keeps the interface's
promises that the controller's unit tests rely on: compare-and-swap with one revision per
write or batch, writes fenced by the controller's term, one controller at a time with a
higher term at each election, and views that follow every change in order and answer
from memory while it is stopped."""

from __future__ import annotations

import asyncio

import pytest

from failover.coordination.interface import LeadershipLost, PlacementConflict, SiteRecord
from failover.coordination.memory import MemoryCoordination
from failover.placement.policy import Placement

pytestmark = pytest.mark.anyio
REPLICAS = ("gcp-osaka", "sakura-ishikari")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _placement(tenant: str, primary: str = "aws-tokyo") -> Placement:
    return Placement(tenant, primary, REPLICAS, REPLICAS)


async def test_placements_change_only_by_compare_and_swap() -> None:
    store = MemoryCoordination()
    first = await store.put_placement_if("041009", _placement("041009"), 0)
    with pytest.raises(PlacementConflict):
        await store.put_placement_if("041009", _placement("041009", "gcp-osaka"), 0)
    written = await store.put_placements_if(
        [(_placement("041009", "gcp-osaka"), first), (_placement("011002"), 0)]
    )
    assert written["041009"] == written["011002"] > first  # one revision per batch
    lost = await store.put_placements_if([(_placement("041009"), first)])
    assert isinstance(lost["041009"], PlacementConflict)
    placement, revision = await store.get_placement("041009")
    assert placement is not None and placement.primary == "gcp-osaka"
    assert placement.epoch == revision == written["041009"]


async def test_one_controller_at_a_time_and_a_stale_term_writes_nothing() -> None:
    store = MemoryCoordination()
    a, b = store.campaign("node-a"), store.campaign("node-b")
    await asyncio.wait_for(a.wait_elected(), 1)
    assert a.is_leader and not b.is_leader
    term = a.term
    await store.put_placement_if("041009", _placement("041009"), 0, leader=a)
    store.expire_controller()
    await asyncio.wait_for(b.wait_elected(), 1)
    assert b.term > term and not a.is_leader
    with pytest.raises(LeadershipLost):
        await store.put_placements_if([(_placement("041009", "gcp-osaka"), 1)], leader=a)
    assert await store.current_controller() == ("node-b", b.term)


async def test_a_view_follows_every_change_and_serves_from_memory_while_stopped() -> None:
    store = MemoryCoordination()
    view = store.cluster_view()
    assert await view.start() and view.connected
    registration = await store.register_site(
        SiteRecord("aws-tokyo", "aws", "ap-northeast-1", ("kanto",), ())
    )
    epoch = await store.put_placement_if("041009", _placement("041009"), 0)
    assert set(view.sites()) == {"aws-tokyo"} and view.revision == epoch
    store.stop()
    assert not view.connected
    await registration.close()  # unseen while stopped
    assert set(view.sites()) == {"aws-tokyo"} and view.placement("041009") is not None
    store.start()
    assert view.connected and view.sites() == {} and view.silence_before >= 0.0
