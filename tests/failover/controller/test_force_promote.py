"""Forced promotion (`yui failover force-promote`) against a real etcd and real copies.

Three sites in the in-process replication harness, their placements in a real etcd: the
primary and its only in-sync replica are lost, a stale replica survives. Without
accept_data_loss nothing changes; with it the stale copy becomes the primary, the report
names what may be lost, the operator log records it, and once a returning copy has caught
up (its unacknowledged-by-the-new-primary tail quarantined) writes succeed again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.cluster import ClusterLink, EtcdPlacements
from assembly.sandbox.etcd import LocalEtcdCluster
from failover.controller.force import force_promote
from failover.controller.moves import MoveRefused
from failover.coordination import connect_etcd
from failover.coordination.interface import Coordination
from failover.placement.policy import Placement
from replication.primary.tenant import NotEnoughInSync
from tests.replication.harness import SENDAI, Cluster, commit, write_audit

pytestmark = [pytest.mark.etcd, pytest.mark.anyio, pytest.mark.timeout(90)]
SITES = ("site-a", "site-b", "site-c")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def placed(
    etcd_cluster: LocalEtcdCluster, tmp_path: Path
) -> AsyncIterator[tuple[Coordination, Cluster]]:
    async with connect_etcd(etcd_cluster.endpoints) as coordination:
        view = coordination.cluster_view()
        await view.start()
        # The site node's adapter (assembly.cluster), over a view without a site of its own.
        link = SimpleNamespace(view=view, coordination=coordination, zones={})
        placements = EtcdPlacements(cast(ClusterLink, link))
        cluster = Cluster(
            {name: f"sqlite:///{tmp_path / name}.db" for name in SITES},
            tmp_path,
            placements=placements,  # type: ignore[arg-type]
        )
        await cluster.start()
        try:
            replicas = ("site-b", "site-c")
            await coordination.put_placement_if(
                SENDAI, Placement(SENDAI, "site-a", replicas, replicas), 0
            )
            await cluster.wait_for(lambda: placements.placement(SENDAI) is not None)
            yield coordination, cluster
        finally:
            await cluster.stop()
            await view.close()


def lose(cluster: Cluster, site: str) -> None:
    cluster.router.down.add(site)
    cluster.router.isolated.add(site)


async def test_a_stale_copy_is_force_promoted_when_no_in_sync_copy_survives(
    placed: tuple[Coordination, Cluster],
) -> None:
    coordination, cluster = placed
    a, b, c = (cluster[name] for name in SITES)
    await cluster.create_tenant("site-a")
    await commit(a, write_audit())
    await cluster.caught_up("site-b", "site-c")
    cluster.router.down.add("site-c")
    await commit(a, write_audit())  # c leaves the in-sync set (a CAS in etcd)
    stale = c.state().head
    await commit(a, write_audit(count=3))
    acknowledged = a.state().head
    assert acknowledged > stale
    shrunk, _ = await coordination.get_placement(SENDAI)
    assert shrunk is not None and shrunk.in_sync == ("site-b",)

    # a is lost (it neither answers nor sends: its streams must not catch c up); c
    # answers again.
    lose(cluster, "site-a")
    cluster.router.down.discard("site-c")
    copies = cluster.client("site-b")

    # While the in-sync b answers, its head bounds what was acknowledged: an exact range.
    report = await force_promote(
        coordination, copies, SENDAI, "site-c", accept_data_loss=False, actor="test"
    )
    assert (report.loss.first, report.loss.last, report.loss.unknown_above) == (
        stale + 1,
        acknowledged,
        None,
    )
    assert f"seqs {stale + 1}..{acknowledged} may be lost" in report.loss.summary()

    # Then b is lost too: no in-sync copy survives. Without accept_data_loss: nothing.
    lose(cluster, "site-b")
    before, revision = await coordination.get_placement(SENDAI)
    sealed_before = c.state().sealed_epoch
    dry = await force_promote(
        coordination, copies, SENDAI, "site-c", accept_data_loss=False, actor="test"
    )
    assert not dry.applied and dry.unreachable == ["site-a", "site-b"]
    assert (dry.loss.first, dry.loss.unknown_above) == (None, stale)
    assert await coordination.get_placement(SENDAI) == (before, revision)
    assert c.state().sealed_epoch == sealed_before
    assert await coordination.operator_log(SENDAI) == []

    with pytest.raises(MoveRefused):  # only a copy that answers can be chosen
        await force_promote(coordination, copies, SENDAI, "site-b", accept_data_loss=True)

    result = await force_promote(
        coordination,
        copies,
        SENDAI,
        "site-c",
        accept_data_loss=True,
        actor="tanaka@ops",
        reason="zone lost",
    )
    assert result.applied and result.epoch is not None and result.epoch > revision
    assert result.loss.unknown_above == stale and result.loss.first is None
    assert f"above seq {stale} it is unknown" in result.loss.summary()
    placement, epoch = await coordination.get_placement(SENDAI)
    assert placement is not None and epoch == result.epoch
    assert (placement.primary, placement.replicas, placement.in_sync) == (
        "site-c",
        ("site-a", "site-b"),
        (),
    )
    assert c.state().sealed_epoch > revision
    ((_, raw),) = await coordination.operator_log(SENDAI)
    record = json.loads(raw)
    assert record["actor"] == "tanaka@ops" and record["action"] == "failover.force-promote"
    assert record["new_primary"] == "site-c" and record["old_primary"] == "site-a"
    assert record["possible_loss"]["unknown_above"] == stale
    assert result.recorded_in is not None and "operator-log" in result.recorded_in

    # The in-sync set restarts empty: writes are refused until a replica catches up.
    with pytest.raises(NotEnoughInSync):
        await commit(c, write_audit())

    # b returns: its tail above the new primary's log goes to quarantine, it catches up,
    # joins the in-sync set, and writes are acknowledged at c.
    cluster.router.down.discard("site-b")
    cluster.router.isolated.discard("site-b")
    await cluster.wait_for(
        lambda: cluster.placements.placement(SENDAI).in_sync == ("site-b",),  # type: ignore[union-attr]
        within=30,
        what="b in the new in-sync set",
    )
    await asyncio.wait_for(commit(c, write_audit()), 10)
    await cluster.caught_up("site-b")
    # Exactly the seqs the report could not vouch for: kept in b's quarantine, not dropped.
    assert b.quarantined() == acknowledged - stale
    assert b.digest() == c.digest()


def test_the_command_refuses_and_changes_nothing_when_the_copy_does_not_answer(
    etcd_cluster: LocalEtcdCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI signs with this site's key and finds the sites in the topology file; here no
    # site answers (nothing listens on their ports): exit 2, nothing written, with or
    # without --accept-data-loss.
    topology = tmp_path / "topology.toml"
    topology.write_text(
        "".join(
            f'[[site]]\nname = "{name}"\nprovider = "p{i}"\nregion = "r{i}"\n'
            f'hazard_zones = ["z{i}"]\nlatitude = 35.0\nlongitude = 139.0\n'
            f'url = "http://127.0.0.1:9"\n\n'
            for i, name in enumerate(SITES)
        ),
        "utf-8",
    )
    monkeypatch.delenv("YUI_ETCD_ENDPOINTS", raising=False)
    monkeypatch.setenv("YUI_SITE", "site-a")
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("YUI_TOPOLOGY_FILE", str(topology))
    monkeypatch.setenv("YUI_REPLICATION_KEY_FILE", str(tmp_path / "key.pem"))

    async def place() -> int:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            replicas = ("site-b", "site-c")
            placement = Placement(SENDAI, "site-a", replicas, ("site-b",))
            return await coordination.put_placement_if(SENDAI, placement, 0)

    async def state() -> tuple[int, list[tuple[int, bytes]]]:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            _, revision = await coordination.get_placement(SENDAI)
            return revision, await coordination.operator_log(SENDAI)

    revision = asyncio.run(place())
    hosts = ",".join(etcd_cluster.endpoints)
    runner = CliRunner()
    for flags in ([], ["--accept-data-loss"]):
        result = runner.invoke(
            app,
            ["failover", "force-promote", SENDAI, "--site", "site-c", "--etcd", hosts, *flags],
        )
        assert result.exit_code == 2, result.output
        assert "site-c" in result.output and "does not answer" in result.output
        assert asyncio.run(state()) == (revision, [])
    unknown = runner.invoke(
        app, ["failover", "force-promote", "131016", "--site", "site-c", "--etcd", hosts]
    )
    assert unknown.exit_code == 2 and "no placement" in unknown.output
