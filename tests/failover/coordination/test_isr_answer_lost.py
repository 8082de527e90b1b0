"""An in-sync-set change whose answer is lost (issue 11, hole 7), against a real etcd.

etcd may commit a transaction and the call still fail (the connection drops, the retry
budget runs out before the answer). A real etcd cannot be made to do that on cue, so the
coordination here is the real one with its answer thrown away after the write: the write
itself is etcd's. The change must then be read back and its answer be what etcd holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from assembly.cluster import ClusterLink, EtcdPlacements
from assembly.sandbox.etcd import LocalEtcdCluster
from failover.coordination import connect_etcd
from failover.coordination.interface import Coordination, CoordinationUnavailable
from failover.placement.policy import Placement
from tests.failover.coordination.test_etcd_placements import TOPOLOGY
from yui.settings import load_settings

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]

TENANT = "041009"


class AnswersLost:
    """etcd's coordination, but the next ``lose`` placement writes are applied and then
    raise (their answer lost), and the next ``refuse`` fail before reaching etcd."""

    def __init__(self, real: Coordination) -> None:
        self.real = real
        self.lose = 0
        self.refuse = 0
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def put_placement_if(self, *args: Any, **kwargs: Any) -> int:
        if self.refuse:
            self.refuse -= 1
            raise CoordinationUnavailable("etcd unreachable before the write (test)")
        revision = await self.real.put_placement_if(*args, **kwargs)
        self.writes += 1
        if self.lose:
            self.lose -= 1
            raise CoordinationUnavailable("the answer of an applied write was lost (test)")
        return revision


async def _placed(etcd: LocalEtcdCluster, tmp_path: Path) -> tuple[ClusterLink, AnswersLost, int]:
    topology = tmp_path / "topology.toml"
    topology.write_text(TOPOLOGY)
    settings = load_settings(
        site="aws-a",
        topology_file=topology,
        data_dir=tmp_path,
        etcd_endpoints=",".join(etcd.endpoints),
    )
    coordination = AnswersLost(connect_etcd(etcd.endpoints))
    link = ClusterLink(settings, cast(Coordination, coordination))
    await link.start()
    epoch = await coordination.put_placement_if(
        TENANT, Placement(TENANT, "aws-a", ("gcp-b", "sak-c"), ("gcp-b",)), 0
    )
    await link.view.wait_for_revision(epoch)
    return link, coordination, epoch


def test_an_expansion_applied_whose_answer_was_lost_is_read_back(
    etcd_cluster: LocalEtcdCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        link, coordination, epoch = await _placed(etcd_cluster, tmp_path)
        try:
            placements = EtcdPlacements(link)
            coordination.lose = 1
            grown = await placements.expand_isr(TENANT, ["sak-c"], epoch)
            stored, revision = await link.coordination.get_placement(TENANT)
            assert stored is not None and stored.in_sync == ("gcp-b", "sak-c")
            # the answer is etcd's: applied, and the primary must now wait for sak-c too
            assert grown.ok and grown.placement is not None
            assert grown.placement.in_sync == ("gcp-b", "sak-c")
            assert grown.placement.epoch == revision > epoch
            assert coordination.writes == 2  # the setup's and the one expansion, not two

            coordination.lose = 1  # the same for a shrink
            shrunk = await placements.shrink_isr(TENANT, ["gcp-b"], revision)
            assert shrunk.ok and shrunk.placement is not None
            assert shrunk.placement.in_sync == ("sak-c",)
            assert shrunk.placement.epoch > revision
        finally:
            await link.stop()

    asyncio.run(scenario())


def test_a_change_refused_before_etcd_is_sent_again_once(
    etcd_cluster: LocalEtcdCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        link, coordination, epoch = await _placed(etcd_cluster, tmp_path)
        try:
            placements = EtcdPlacements(link)
            coordination.refuse = 1
            grown = await placements.expand_isr(TENANT, ["sak-c"], epoch)
            assert grown.ok and grown.placement is not None
            assert grown.placement.in_sync == ("gcp-b", "sak-c")
            assert coordination.writes == 2

            # etcd never answers: the caller is told it cannot know (and assumes either)
            coordination.refuse = 99
            with pytest.raises(CoordinationUnavailable):
                await placements.shrink_isr(TENANT, ["sak-c"], grown.placement.epoch)
            stored, _ = await link.coordination.get_placement(TENANT)
            assert stored is not None and stored.in_sync == ("gcp-b", "sak-c")
        finally:
            await link.stop()

    asyncio.run(scenario())
