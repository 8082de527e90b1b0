"""`yui placement show | set | rebalance` against a real etcd."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.sandbox.etcd import LocalEtcdCluster
from failover.coordination import connect_etcd
from failover.coordination.interface import SiteRecord
from failover.placement.policy import Placement

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]
SITES = (
    ("aws-tokyo", "aws", "kanto"),
    ("gcp-osaka", "gcp", "kansai"),
    ("sakura-ishikari", "sakura", "hokkaido"),
)


def test_show_set_and_rebalance(
    etcd_cluster: LocalEtcdCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("YUI_ETCD_ENDPOINTS", raising=False)
    hosts = ",".join(etcd_cluster.endpoints)
    loop = asyncio.new_event_loop()  # the sites' leases live here while the CLI runs
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    coordination = connect_etcd(etcd_cluster.endpoints)
    try:
        for i, (name, provider, zone) in enumerate(SITES, start=1):
            record = SiteRecord(name, provider, "r", (zone,), (f"http://127.0.0.1:{i}",))
            on_loop(coordination.register_site(record))
        replicas = ("gcp-osaka", "sakura-ishikari")
        on_loop(
            coordination.put_placement_if(
                "041009", Placement("041009", "aws-tokyo", replicas, replicas), 0
            )
        )
        runner = CliRunner()
        shown = runner.invoke(app, ["placement", "show", "--json", "--etcd", hosts])
        assert shown.exit_code == 0, shown.output
        (placement,) = json.loads(shown.output)
        assert placement["primary"] == "aws-tokyo" and placement["mode"] == "sync"

        changed = runner.invoke(
            app, ["placement", "set", "041009", "--mode", "async", "--etcd", hosts]
        )
        assert changed.exit_code == 0, changed.output
        after, revision = on_loop(coordination.get_placement("041009"))
        assert after.mode == "async" and revision > placement["epoch"]

        refused = runner.invoke(
            app, ["placement", "set", "041009", "--min-insync", "3", "--etcd", hosts]
        )
        assert refused.exit_code == 2 and "min_insync" in refused.output

        # The hazard-zone rule of the in-sync set: shown (default 2), set, and refused
        # when the copies could never meet it (three sites span three zones, not four).
        assert placement["min_insync_zones"] == 2
        zoned = runner.invoke(
            app, ["placement", "set", "041009", "--min-insync-zones", "3", "--etcd", hosts]
        )
        assert zoned.exit_code == 0, zoned.output
        assert on_loop(coordination.get_placement("041009"))[0].min_insync_zones == 3
        unmeetable = runner.invoke(
            app, ["placement", "set", "041009", "--min-insync-zones", "4", "--etcd", hosts]
        )
        assert unmeetable.exit_code == 2 and "min_insync_zones=4" in unmeetable.output
        assert on_loop(coordination.get_placement("041009"))[0].min_insync_zones == 3
        assert (
            runner.invoke(
                app, ["placement", "set", "041009", "--mode", "fast", "--etcd", hosts]
            ).exit_code
            == 2
        )

        plan = runner.invoke(app, ["placement", "rebalance", "--json", "--etcd", hosts])
        assert plan.exit_code == 0, plan.output
        assert json.loads(plan.output) == []
        assert (
            runner.invoke(
                app, ["placement", "show", "--tenant", "131016", "--etcd", hosts]
            ).exit_code
            == 1
        )
    finally:
        on_loop(coordination.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
