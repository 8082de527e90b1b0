"""Replication's in-sync-set changes, as compare-and-swaps on etcd (assembly.cluster)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assembly.cluster import ClusterLink, EtcdPlacements
from assembly.sandbox.etcd import LocalEtcdCluster
from failover.coordination import connect_etcd
from failover.placement.policy import Placement
from yui.settings import load_settings

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]

TOPOLOGY = "".join(
    f'[[site]]\nname = "{name}"\nprovider = "{name[:3]}"\nregion = "r"\nhazard_zones = ["{zone}"]\n'
    f'latitude = 35.0\nlongitude = 139.0\nurl = "http://127.0.0.1:{port}"\n\n'
    for name, zone, port in (
        ("aws-a", "kanto", 1),
        ("gcp-b", "kansai", 2),
        ("sak-c", "hokkaido", 3),
    )
)


def test_shrink_and_expand_are_cas_on_the_epoch(
    etcd_cluster: LocalEtcdCluster, tmp_path: Path
) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(TOPOLOGY)
    settings = load_settings(
        site="aws-a",
        topology_file=topology,
        data_dir=tmp_path,
        etcd_endpoints=",".join(etcd_cluster.endpoints),
    )

    async def scenario() -> None:
        link = ClusterLink(settings, connect_etcd(etcd_cluster.endpoints))
        await link.start()
        try:
            epoch = await link.coordination.put_placement_if(
                "041009", Placement("041009", "aws-a", ("gcp-b", "sak-c"), ("gcp-b", "sak-c")), 0
            )
            await link.view.wait_for_revision(epoch)
            placements = EtcdPlacements(link)
            assert placements.placement("041009").epoch == epoch  # type: ignore[union-attr]

            stale = await placements.shrink_isr("041009", ["sak-c"], epoch - 1)
            assert not stale.ok and stale.placement is not None and stale.placement.epoch == epoch

            shrunk = await placements.shrink_isr("041009", ["sak-c"], epoch)
            assert shrunk.ok and shrunk.placement is not None
            assert shrunk.placement.in_sync == ("gcp-b",) and shrunk.placement.epoch > epoch

            raced = await placements.expand_isr("041009", ["sak-c"], epoch)  # the old epoch: lost
            assert not raced.ok

            grown = await placements.expand_isr(
                "041009", ["sak-c", "nowhere"], shrunk.placement.epoch
            )
            assert grown.ok and grown.placement is not None
            assert grown.placement.in_sync == ("gcp-b", "sak-c")  # only the tenant's replicas
        finally:
            await link.stop()

    asyncio.run(scenario())
