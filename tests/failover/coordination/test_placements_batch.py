"""Many compare-and-swaps at once (``put_placements_if``) against real etcd: one
transaction per chunk, each placement with its own compare; a lost compare loses only
its own placement."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from assembly.sandbox.empty_tenants import bulk_codes
from assembly.sandbox.etcd import LocalEtcdCluster
from failover.coordination import Leadership, LeadershipLost, PlacementConflict, connect_etcd
from failover.coordination.etcd import _TXN_PLACEMENTS
from failover.placement.policy import Placement

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]


def _placement(tenant: str, primary: str, replica: str) -> Placement:
    return Placement(tenant, primary, (replica, "c"), (replica, "c"))


def _written(results: dict[str, int | PlacementConflict]) -> dict[str, int]:
    assert all(isinstance(r, int) for r in results.values()), results
    return {tenant: r for tenant, r in results.items() if isinstance(r, int)}


def test_a_batch_writes_every_placement_at_one_epoch_per_chunk(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    codes = bulk_codes(_TXN_PLACEMENTS + 30)  # two transactions

    async def scenario() -> None:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            created = _written(
                await coordination.put_placements_if(
                    [(_placement(code, "a", "b"), 0) for code in codes]
                )
            )
            assert set(created) == set(codes)
            assert len(set(created.values())) == 2  # one revision per transaction
            moved = _written(
                await coordination.put_placements_if(
                    [(_placement(code, "b", "a"), created[code]) for code in codes]
                )
            )
            placements, _ = await coordination.list_placements()
            for code in codes:
                assert placements[code].primary == "b"
                assert placements[code].epoch == moved[code]
                assert moved[code] > created[code]

    asyncio.run(scenario())


def test_a_lost_compare_loses_only_its_own_placement(etcd_cluster: LocalEtcdCluster) -> None:
    codes = bulk_codes(20)

    async def scenario() -> None:
        async with (
            connect_etcd(etcd_cluster.endpoints) as mover,
            connect_etcd(etcd_cluster.endpoints) as controller,
        ):
            created = _written(
                await mover.put_placements_if([(_placement(code, "a", "b"), 0) for code in codes])
            )
            raced, other = codes[3], codes[11]
            # the controller moves two of them meanwhile
            for code in (raced, other):
                await controller.put_placement_if(code, _placement(code, "c", "b"), created[code])
            results = await mover.put_placements_if(
                [(_placement(code, "b", "a"), created[code]) for code in codes]
            )
            for code in (raced, other):
                conflict = results[code]
                assert isinstance(conflict, PlacementConflict)
                assert conflict.expected_revision == created[code]
                assert conflict.current_revision > created[code]
            written = {code: r for code, r in results.items() if code not in (raced, other)}
            assert all(isinstance(r, int) for r in written.values()), results
            placements, _ = await mover.list_placements()
            assert placements[raced].primary == placements[other].primary == "c"
            assert all(placements[code].primary == "b" for code in written)
            assert all(placements[code].epoch == written[code] for code in written)
            # absent means revision 0: a create-only batch loses where the key exists
            again = await mover.put_placements_if([(_placement(codes[0], "a", "b"), 0)])
            assert isinstance(again[codes[0]], PlacementConflict)
            with pytest.raises(ValueError, match="once"):
                await mover.put_placements_if(
                    [(_placement(codes[0], "a", "b"), 1), (_placement(codes[0], "b", "a"), 1)]
                )

    asyncio.run(scenario())


def test_a_controllers_batch_is_written_only_while_it_holds_its_term(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    """The controller's promotions are one batch: fenced by its term as a single write is
    (a controller that lost the role writes nothing, not even the placements whose own
    compares still hold)."""
    codes = bulk_codes(5)

    async def scenario() -> None:
        async with (
            connect_etcd(etcd_cluster.endpoints) as coordination,
            connect_etcd(etcd_cluster.endpoints) as rival,
        ):
            created = _written(
                await coordination.put_placements_if(
                    [(_placement(code, "a", "b"), 0) for code in codes]
                )
            )
            leadership = coordination.campaign("controller-a")
            await asyncio.wait_for(leadership.wait_elected(), 10)
            moved = _written(
                await coordination.put_placements_if(
                    [(_placement(code, "b", "a"), created[code]) for code in codes],
                    leader=leadership,
                )
            )
            term = leadership.term
            await leadership.resign()
            successor = rival.campaign("controller-b")
            await asyncio.wait_for(successor.wait_elected(), 10)
            stale = FencedLeadership(leadership.node_id, term)
            with pytest.raises(LeadershipLost):
                await coordination.put_placements_if(
                    [(_placement(code, "a", "b"), moved[code]) for code in codes], leader=stale
                )
            placements, _ = await coordination.list_placements()
            assert {placements[code].epoch for code in codes} == set(moved.values())
            assert all(placements[code].primary == "b" for code in codes)
            await successor.resign()

    asyncio.run(scenario())


class FencedLeadership(Leadership):
    """A leadership that still believes in its old term (a controller partitioned away
    whose lease expired meanwhile): only etcd's compare can refuse its writes."""

    def __init__(self, node_id: str, term: int) -> None:
        self._node_id = node_id
        self._term = term

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def is_leader(self) -> bool:
        return True

    @property
    def term(self) -> int:
        return self._term

    async def wait_elected(self) -> None:
        return None

    async def wait_lost(self) -> None:
        return None

    def on_lost(self, callback: Callable[[int], object]) -> None:
        return None

    async def resign(self) -> None:
        return None
