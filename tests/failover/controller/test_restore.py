"""Restoring the replication factor, against a real etcd: the elected controller adds a
replica at a site without a copy once a member's site has been gone for the grace
period, by a compare-and-swap; with no eligible site it adds nothing and says why."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.sandbox.etcd import LocalEtcdCluster
from assembly.sandbox.plan import EXTRA_SITES, SITES
from failover.controller.detection import ControllerTiming
from failover.controller.loop import Controller
from failover.coordination import connect_etcd
from failover.coordination.interface import Coordination, SiteRecord, SiteRegistration
from failover.placement.policy import Placement
from replication.protocol.many import Answers
from replication.protocol.wire import ReplicaStatus, SealOut

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]
T = TypeVar("T")
TENANT = "041009"
GRACE = 1.5
RECORDS = {
    name: SiteRecord(name, provider, region, zones, ())  # no URL: detection by lease only
    for name, provider, region, zones, _, _ in (*SITES, *EXTRA_SITES)
}
REPLICAS = ("gcp-osaka", "sakura-ishikari")
START = Placement(TENANT, "aws-tokyo", REPLICAS, REPLICAS)


class NoCopies:
    """The primary stays up in these tests: nothing is sealed or promoted."""

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]:
        raise AssertionError(f"unexpected seal of {', '.join(epochs)} at {site}")

    async def promote_many(self, site: str, epochs: Mapping[str, int]) -> Answers[ReplicaStatus]:
        raise AssertionError(f"unexpected promotion of {', '.join(epochs)} at {site}")


class Cluster:
    """Site leases and a controller on an event loop of their own (the CLI runs its own)."""

    def __init__(self, etcd: LocalEtcdCluster) -> None:
        self.etcd = etcd
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.coordination: Coordination = connect_etcd(etcd.endpoints)
        self.sites: dict[str, SiteRegistration] = {}
        self.controller: Controller | None = None
        self.task: asyncio.Task[None] | None = None
        self.first = 0

    def run(self, work: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)  # type: ignore[arg-type]

    def register(self, *names: str) -> None:
        for name in names:
            self.sites[name] = self.run(self.coordination.register_site(RECORDS[name]))

    def lose(self, name: str) -> None:
        self.run(self.sites.pop(name).close())  # the lease key is gone at once

    def start_controller(self) -> Controller:
        async def start() -> Controller:
            view = self.coordination.cluster_view()
            await view.start()
            timing = ControllerTiming(startup_grace_seconds=0.5, restore_grace_seconds=GRACE)
            controller = Controller("test-controller", self.coordination, view, NoCopies(), timing)
            self.task = asyncio.create_task(controller.run())
            return controller

        self.controller = self.run(start())
        return self.controller

    def placement(self) -> tuple[Placement | None, int]:
        return self.run(self.coordination.get_placement(TENANT))

    def wait_for(self, check: Callable[[Placement], bool], timeout: float) -> Placement:
        deadline = time.monotonic() + timeout
        while True:
            placement, _ = self.placement()
            if placement is not None and check(placement):
                return placement
            assert time.monotonic() < deadline, placement
            time.sleep(0.1)

    def close(self) -> None:
        async def stop() -> None:
            if self.task is not None:
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)
            if self.controller is not None:
                await self.controller.view.close()
            for registration in self.sites.values():
                await registration.close()
            await self.coordination.close()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def cluster(etcd_cluster: LocalEtcdCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    monkeypatch.delenv("YUI_ETCD_ENDPOINTS", raising=False)
    made = Cluster(etcd_cluster)
    try:
        yield made
    finally:
        made.close()


def _unchanged(cluster: Cluster) -> bool:
    placement, revision = cluster.placement()
    return placement == replace(START, epoch=revision) and revision == cluster.first


def _show(cluster: Cluster) -> dict[str, Any]:
    hosts = ",".join(cluster.etcd.endpoints)
    shown = CliRunner().invoke(app, ["placement", "show", "--json", "--etcd", hosts])
    assert shown.exit_code == 0, shown.output
    (placement,) = json.loads(shown.output)
    return dict(placement["copies"])


def test_a_lost_replica_is_restored_at_the_fourth_site_after_the_grace(cluster: Cluster) -> None:
    cluster.register("aws-tokyo", "gcp-osaka", "sakura-ishikari", "oci-fukuoka")
    cluster.first = cluster.run(cluster.coordination.put_placement_if(TENANT, START, 0))
    cluster.start_controller()
    time.sleep(1.0)
    assert _unchanged(cluster)  # nothing lost, nothing added
    assert _show(cluster)["summary"] == "3/3 ok"

    cluster.lose("sakura-ishikari")
    lost_at = time.monotonic()
    copies = _show(cluster)  # the status says so at once; the controller waits the grace
    assert copies["under_replicated"] and copies["lost"] == ["sakura-ishikari"]
    assert copies["restore_at"] == "oci-fukuoka"
    assert "under-replicated" in copies["summary"] and "不足" in copies["summary"]

    restored = cluster.wait_for(lambda p: "oci-fukuoka" in p.replicas, timeout=15)
    assert time.monotonic() - lost_at >= GRACE * 0.9  # not before the grace period
    # The lost member stays, out of the in-sync set; the new one joins once caught up.
    assert restored.primary == "aws-tokyo"
    assert restored.replicas == ("gcp-osaka", "sakura-ishikari", "oci-fukuoka")
    assert "oci-fukuoka" not in restored.in_sync
    copies = _show(cluster)
    assert not copies["under_replicated"] and copies["catching_up"] == ["oci-fukuoka"]
    time.sleep(1.0)
    assert cluster.placement()[0] == restored  # one replica added, not more


@pytest.mark.parametrize("spare", [None, "oci-fukuoka"], ids=["three sites", "spare lost too"])
def test_with_no_eligible_site_nothing_is_added_and_the_status_says_why(
    cluster: Cluster, spare: str | None
) -> None:
    cluster.register("aws-tokyo", "gcp-osaka", "sakura-ishikari", *([spare] if spare else []))
    cluster.first = cluster.run(cluster.coordination.put_placement_if(TENANT, START, 0))
    controller = cluster.start_controller()
    if spare:
        deadline = time.monotonic() + 10
        while spare not in controller.restorer.records:  # elected, and has seen it alive
            assert time.monotonic() < deadline
            time.sleep(0.1)
        cluster.lose(spare)  # a site without a copy, gone itself, takes none
    cluster.lose("sakura-ishikari")
    time.sleep(GRACE + 2.0)
    assert _unchanged(cluster)  # no CAS was made
    verdict = controller.restorer.verdicts.get(TENANT, "")
    assert "no available site is without a copy" in verdict, verdict
    copies = _show(cluster)
    assert copies["under_replicated"] and copies["restore_at"] is None
    assert copies["summary"].startswith("2/3 不足")
    assert "no available site is without a copy" in copies["summary"]
