"""Stray seals, against a real etcd: a promotion that sealed the in-sync replicas but
never wrote its placement (its controller lost the role half-way) leaves the primary
refused by its own replicas. The controller sees the seal twice, re-writes the same
placement (a new epoch above the seal) and promotes the primary at it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from assembly.sandbox.etcd import LocalEtcdCluster
from failover.controller.engine import promote_lost
from failover.controller.seals import StraySeals
from failover.coordination import connect_etcd
from failover.placement.policy import Placement
from replication.protocol.many import Answers
from replication.protocol.wire import ReplicaStatus, SealOut
from tests.failover.controller.test_promotion import SITES, RecordingCopies

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]
STUCK, FINE = "041009", "271004"
REPLICAS = ("gcp-osaka", "sakura-ishikari")


@dataclass
class SealedCopies:
    """Each (site, tenant) copy's seal, as the copies would report it."""

    seals: dict[tuple[str, str], int]
    promoted: list[tuple[str, str, int]] = field(default_factory=list)

    async def status_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]:
        return {
            t: ReplicaStatus.model_construct(
                tenant=t, site=site, sealed_epoch=self.seals.get((site, t), 0)
            )
            for t in tenants
        }

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]:
        raise AssertionError("the scan seals nothing")

    async def promote_many(self, site: str, epochs: Mapping[str, int]) -> Answers[ReplicaStatus]:
        self.promoted.extend((site, t, e) for t, e in epochs.items())
        return {t: ReplicaStatus.model_construct(site=site, tenant=t) for t in epochs}


def test_a_seal_left_by_an_unfinished_promotion_is_lifted(etcd_cluster: LocalEtcdCluster) -> None:
    async def scenario() -> None:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            for tenant in (STUCK, FINE):
                await coordination.put_placement_if(
                    tenant, Placement(tenant, "aws-tokyo", REPLICAS, REPLICAS), 0
                )
            stuck, revision = await coordination.get_placement(STUCK)
            fine, fine_revision = await coordination.get_placement(FINE)
            assert stuck is not None and fine is not None
            copies = SealedCopies(
                {("gcp-osaka", STUCK): revision + 1, ("gcp-osaka", FINE): fine_revision}
            )
            leadership = coordination.campaign("controller-a")
            await asyncio.wait_for(leadership.wait_elected(), 10)
            seals = StraySeals(coordination, copies)

            assert await seals.scan(leadership) == []  # seen once: maybe a move in flight
            assert await seals.scan(leadership) == [STUCK]  # seen twice: lifted
            after, new_revision = await coordination.get_placement(STUCK)
            assert after is not None and after.primary == "aws-tokyo"  # same placement
            assert new_revision > revision + 1  # a new epoch above the seal
            assert copies.promoted == [("aws-tokyo", STUCK, new_revision)]
            assert (await coordination.get_placement(FINE))[1] == fine_revision  # untouched
            await leadership.resign()

    asyncio.run(scenario())


def test_a_controller_that_lost_the_role_seals_nothing(etcd_cluster: LocalEtcdCluster) -> None:
    async def scenario() -> None:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            start = Placement(STUCK, "aws-tokyo", REPLICAS, REPLICAS)
            await coordination.put_placement_if(STUCK, start, 0)
            leadership = coordination.campaign("controller-a")
            await asyncio.wait_for(leadership.wait_elected(), 10)
            await leadership.resign()
            copies = RecordingCopies({"gcp-osaka": 5, "sakura-ishikari": 5})
            [result] = await promote_lost(
                coordination, copies, {STUCK: "aws-tokyo"}, SITES, leader=leadership
            )
            assert result.new_primary is None and copies.sealed == []

    asyncio.run(scenario())
