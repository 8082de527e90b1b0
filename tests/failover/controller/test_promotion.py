"""Promotion against a real etcd: seal, pick, compare-and-swap, promote."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from assembly.sandbox.etcd import LocalEtcdCluster
from failover.controller.engine import promote_lost
from failover.coordination import connect_etcd
from failover.placement.policy import Placement, SiteInfo
from replication.protocol.many import Answers
from replication.protocol.wire import ReplicaStatus, SealOut

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]
TENANT = "041009"
SITES = [
    SiteInfo("aws-tokyo", "aws", "r1", frozenset({"kanto"})),
    SiteInfo("gcp-osaka", "gcp", "r2", frozenset({"kansai"})),
    SiteInfo("sakura-ishikari", "sakura", "r3", frozenset({"hokkaido"})),
]
START = Placement(
    TENANT, "aws-tokyo", ("gcp-osaka", "sakura-ishikari"), ("gcp-osaka", "sakura-ishikari")
)


@dataclass
class RecordingCopies:
    """The copies' side of the protocol, scripted: each site's durable seq, or unreachable."""

    seqs: dict[str, int | None]
    before_seal: Any = None
    sealed: list[tuple[str, int]] = field(default_factory=list)
    promoted: list[tuple[str, int]] = field(default_factory=list)

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]:
        if self.before_seal is not None:
            await self.before_seal()
        seq = self.seqs.get(site)
        if seq is None:
            raise ConnectionError(f"{site} unreachable")
        answers: Answers[SealOut] = {}
        for tenant, epoch in epochs.items():
            self.sealed.append((site, epoch))
            answers[tenant] = SealOut(
                tenant=tenant, sealed_epoch=epoch, durable_seq=seq, durable_epoch=1, applied_seq=seq
            )
        return answers

    async def promote_many(self, site: str, epochs: Mapping[str, int]) -> Answers[ReplicaStatus]:
        self.promoted.extend((site, epoch) for epoch in epochs.values())
        return {t: ReplicaStatus.model_construct(site=site, tenant=t) for t in epochs}


def _run(
    etcd: LocalEtcdCluster, copies: RecordingCopies, meddle: bool = False
) -> tuple[Any, Placement | None, int, int]:
    async def scenario() -> tuple[Any, Placement | None, int, int]:
        async with connect_etcd(etcd.endpoints) as coordination:
            first = await coordination.put_placement_if(TENANT, START, 0)
            if meddle:

                async def move_it_once() -> None:
                    copies.before_seal = None
                    current, revision = await coordination.get_placement(TENANT)
                    assert current is not None
                    await coordination.put_placement_if(
                        TENANT, current, revision
                    )  # a concurrent write

                copies.before_seal = move_it_once
            [result] = await promote_lost(coordination, copies, {TENANT: "aws-tokyo"}, SITES)
            placement, revision = await coordination.get_placement(TENANT)
            return result, placement, first, revision

    return asyncio.run(scenario())


def test_the_sealed_replica_with_the_highest_seq_is_promoted(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    copies = RecordingCopies({"gcp-osaka": 10, "sakura-ishikari": 12})
    result, placement, first, revision = _run(etcd_cluster, copies)
    assert result.ok and result.new_primary == "sakura-ishikari"
    assert placement is not None and placement.primary == "sakura-ishikari"
    assert placement.replicas == ("aws-tokyo", "gcp-osaka") and placement.in_sync == ("gcp-osaka",)
    assert result.epoch == revision > first  # the new epoch is the placement write's revision
    assert all(epoch > first for _, epoch in copies.sealed)  # sealed above the old epoch
    assert copies.promoted == [("sakura-ishikari", revision)]


def test_an_unreachable_replica_is_not_a_candidate(etcd_cluster: LocalEtcdCluster) -> None:
    copies = RecordingCopies({"gcp-osaka": 7, "sakura-ishikari": None})
    result, placement, _, _ = _run(etcd_cluster, copies)
    assert result.new_primary == "gcp-osaka"
    assert placement is not None and placement.in_sync == ()


def test_no_sealed_replica_means_no_promotion(etcd_cluster: LocalEtcdCluster) -> None:
    copies = RecordingCopies({"gcp-osaka": None, "sakura-ishikari": None})
    result, placement, first, revision = _run(etcd_cluster, copies)
    assert not result.ok and "no in-sync replica" in result.reason
    assert placement is not None and placement.primary == "aws-tokyo" and revision == first
    assert copies.promoted == []


def test_a_lost_race_starts_again_from_a_fresh_read(etcd_cluster: LocalEtcdCluster) -> None:
    copies = RecordingCopies({"gcp-osaka": 3, "sakura-ishikari": 3})
    result, placement, _, revision = _run(etcd_cluster, copies, meddle=True)
    assert result.ok and placement is not None and placement.primary == result.new_primary
    epochs = sorted({epoch for _, epoch in copies.sealed})
    assert len(epochs) == 2  # sealed once per attempt, the second above the meddling write
    assert copies.promoted == [(result.new_primary, revision)]
