"""Compare-and-swap on placements; the epoch is the revision of the write."""

from __future__ import annotations

import asyncio

import pytest

from assembly.sandbox.etcd import LocalEtcdCluster
from failover.coordination import CoordinationUnavailable, PlacementConflict, connect_etcd
from failover.placement.policy import Placement

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]

TENANT = "041009"


def _placement(primary: str, replica: str) -> Placement:
    return Placement(TENANT, primary, (replica,), (replica,))


def test_concurrent_writers_exactly_one_wins(etcd_cluster: LocalEtcdCluster) -> None:
    async def scenario() -> None:
        async with (
            connect_etcd(etcd_cluster.endpoints) as one,
            connect_etcd(etcd_cluster.endpoints) as two,
        ):
            expected = 0
            epochs: list[int] = []
            for round_ in range(8):
                results = await asyncio.gather(
                    one.put_placement_if(TENANT, _placement("a", f"r{round_}"), expected),
                    two.put_placement_if(TENANT, _placement("b", f"r{round_}"), expected),
                    return_exceptions=True,
                )
                wins = [r for r in results if isinstance(r, int)]
                conflicts = [r for r in results if isinstance(r, PlacementConflict)]
                assert len(wins) == 1 and len(conflicts) == 1, results
                revision = wins[0]
                assert conflicts[0].expected_revision == expected
                assert conflicts[0].current_revision == revision

                stored, stored_revision = await one.get_placement(TENANT)
                assert stored is not None
                assert stored_revision == revision == stored.epoch
                winner = "a" if isinstance(results[0], int) else "b"
                assert stored.primary == winner
                epochs.append(revision)
                expected = revision
            assert epochs == sorted(epochs) and len(set(epochs)) == len(epochs)

    asyncio.run(scenario())


def test_create_only_if_absent_and_stale_revision(etcd_cluster: LocalEtcdCluster) -> None:
    async def scenario() -> None:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            assert await coordination.get_placement(TENANT) == (None, 0)
            first = await coordination.put_placement_if(TENANT, _placement("a", "b"), 0)
            with pytest.raises(PlacementConflict):
                await coordination.put_placement_if(TENANT, _placement("b", "a"), 0)
            second = await coordination.put_placement_if(TENANT, _placement("b", "a"), first)
            assert second > first
            with pytest.raises(PlacementConflict) as caught:
                await coordination.put_placement_if(TENANT, _placement("a", "b"), first)
            assert caught.value.current_revision == second
            placements, revision = await coordination.list_placements()
            assert placements[TENANT].epoch == second and revision >= second
            with pytest.raises(ValueError):
                await coordination.put_placement_if("999999", _placement("a", "b"), 0)

    asyncio.run(scenario())


def test_writes_survive_one_member_down_and_fail_without_quorum(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    async def scenario() -> None:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            revision = await coordination.put_placement_if(TENANT, _placement("a", "b"), 0)
            leader = etcd_cluster.leader_index()
            assert leader is not None
            follower = (leader + 1) % 3
            etcd_cluster.freeze_member(follower)
            try:
                for _ in range(3):  # whichever member a link sits on
                    revision = await coordination.put_placement_if(
                        TENANT, _placement("a", "b"), revision
                    )
            finally:
                etcd_cluster.thaw_member(follower)
            etcd_cluster.stop_member((follower + 1) % 3)
            etcd_cluster.stop_member((follower + 2) % 3)
            with pytest.raises(CoordinationUnavailable):
                await coordination.put_placement_if(TENANT, _placement("b", "a"), revision)

    asyncio.run(scenario())
