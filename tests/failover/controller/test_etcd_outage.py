"""After a whole-etcd outage, against a real 3-member etcd: every site's lease lapsed, and
the sites hold their keys again one by one once etcd answers. A primary whose key comes
back late must not be failed over while its site answers the controller's probes (the
drill replica-restart-etcd-down: the first site back won the election and moved every
tenant off a live primary 0.36 s later); a primary whose site really died meanwhile is
still failed over by the refused probes, without waiting for the grace to end; and in
steady state a killed primary's site is failed over as fast as before."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from assembly.sandbox.etcd import LocalEtcdCluster
from failover.controller.detection import ControllerTiming
from failover.controller.loop import Controller
from failover.coordination import SANDBOX, connect_etcd
from failover.coordination.interface import (
    ClusterView,
    Coordination,
    SiteRecord,
    SiteRegistration,
)
from failover.placement.policy import Placement
from replication.protocol.many import Answers
from replication.protocol.wire import ReplicaStatus, SealOut

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(90)]
TENANT = "041009"
PRIMARY = "sakura-ishikari"
REPLICAS = ("aws-tokyo", "gcp-osaka")
ZONES = {"sakura-ishikari": "hokkaido", "aws-tokyo": "kanto", "gcp-osaka": "kansai"}
#: longer than the 3 s lease: every site's lease lapses
OUTAGE_SECONDS = 4.0
#: a controller's node restarted 1 s into it has been up long enough to be past its
#: start-up grace soon after etcd is back
RESTARTED_OUTAGE_SECONDS = 8.0
#: the primary holds its key again this long after etcd answers (the drill: ~3 s after
#: the new controller's election, itself ~3 s after etcd was back)
LATE_SECONDS = 5.0


@dataclass
class RecordingCopies:
    """Every seal and promotion succeeds: a wrong decision would complete, and show."""

    sealed: list[tuple[str, int]] = field(default_factory=list)
    promoted: list[tuple[str, int]] = field(default_factory=list)
    moved: asyncio.Event = field(default_factory=asyncio.Event)

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]:
        self.sealed.extend((site, epoch) for epoch in epochs.values())
        return {
            t: SealOut(tenant=t, sealed_epoch=e, durable_seq=5, durable_epoch=1, applied_seq=5)
            for t, e in epochs.items()
        }

    async def promote_many(self, site: str, epochs: Mapping[str, int]) -> Answers[ReplicaStatus]:
        self.promoted.extend((site, epoch) for epoch in epochs.values())
        self.moved.set()
        return {t: ReplicaStatus.model_construct(site=site, tenant=t) for t in epochs}


class SiteProcess:
    """A site node's /healthz (what the controller probes): up, or gone (refused)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        async def healthy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            writer.close()

        self.server = await asyncio.start_server(healthy, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def kill(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@dataclass
class Sandbox:
    etcd: LocalEtcdCluster
    coordination: Coordination
    view: ClusterView
    controller: Controller
    copies: RecordingCopies
    processes: dict[str, SiteProcess]
    registrations: dict[str, SiteRegistration]
    first_epoch: int
    task: asyncio.Task[None] | None = None

    async def placement(self) -> Placement | None:
        placement, _ = await self.coordination.get_placement(TENANT)
        return placement

    def start_controller(self) -> None:
        self.task = asyncio.create_task(self.controller.run())

    async def restart_controller(self) -> None:
        """The controller's node restarts: a new view, and a controller that knows nothing."""
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.view.close()
        self.view = self.coordination.cluster_view()
        timing = self.controller.timing
        self.controller = Controller("aws-tokyo", self.coordination, self.view, self.copies, timing)
        await self.view.start()  # etcd down: gives up waiting, keeps trying in the background
        self.start_controller()

    async def etcd_down(self) -> None:
        for index in range(len(self.etcd.members)):
            await asyncio.to_thread(self.etcd.stop_member, index, kill=True)

    async def etcd_up(self) -> None:
        for index in range(len(self.etcd.members)):
            await asyncio.to_thread(self.etcd.start_member, index, wait=False)
        await asyncio.to_thread(self.etcd.wait_healthy)

    def record(self, name: str) -> SiteRecord:
        url = self.processes[name].url
        return SiteRecord(name, name.split("-")[0], name, (ZONES[name],), (url,))


@asynccontextmanager
async def sandbox(etcd: LocalEtcdCluster) -> AsyncIterator[Sandbox]:
    coordination = connect_etcd(etcd.endpoints, timing=SANDBOX)
    processes = {name: SiteProcess() for name in ZONES}
    for process in processes.values():
        await process.start()
    view = coordination.cluster_view()
    copies = RecordingCopies()
    # The candidate at a replica's site, as in the drill; timing as a site node sets it.
    timing = ControllerTiming.for_coordination(SANDBOX)
    controller = Controller("aws-tokyo", coordination, view, copies, timing)
    registrations: dict[str, SiteRegistration] = {}
    made = Sandbox(etcd, coordination, view, controller, copies, processes, registrations, 0)
    for name in ZONES:
        registrations[name] = await coordination.register_site(made.record(name))
    made.first_epoch = await coordination.put_placement_if(
        TENANT, Placement(TENANT, PRIMARY, REPLICAS, REPLICAS), 0
    )
    await view.start()
    made.start_controller()
    try:
        async with asyncio.timeout(15):
            await view.wait_until(lambda v: (v.controller or ("",))[0] == "aws-tokyo")
        await asyncio.sleep(1.0)  # the controller has seen every site alive
        yield made
    finally:
        if made.task is not None:
            made.task.cancel()
            await asyncio.gather(made.task, return_exceptions=True)
        for registration in registrations.values():
            await registration.close()
        await made.view.close()
        await coordination.close()
        for process in processes.values():
            if process.server is not None:
                process.server.close()


async def _primary_site_late_after_outage(
    etcd: LocalEtcdCluster,
) -> tuple[Placement | None, RecordingCopies, int]:
    async with sandbox(etcd) as made:
        registrations = made.registrations
        await made.etcd_down()
        # The primary's node stays up, but its registration lapses and comes back late
        # (its old lease is not revoked: etcd still holds it, then lets it expire).
        await registrations[PRIMARY].close(revoke=False)
        await asyncio.sleep(OUTAGE_SECONDS)
        await made.etcd_up()
        await asyncio.sleep(LATE_SECONDS)
        registrations[PRIMARY] = await made.coordination.register_site(made.record(PRIMARY))
        # Past the end of any grace: the controller has had every chance to move it.
        await asyncio.sleep(SANDBOX.reregistration_seconds)
        return await made.placement(), made.copies, made.first_epoch


def test_a_live_primary_whose_key_comes_back_late_after_an_etcd_outage_is_not_failed_over(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    placement, copies, first_epoch = asyncio.run(_primary_site_late_after_outage(etcd_cluster))
    assert copies.sealed == [] and copies.promoted == []
    assert placement == Placement(TENANT, PRIMARY, REPLICAS, REPLICAS, epoch=first_epoch)


async def _controller_restarted_during_outage(
    etcd: LocalEtcdCluster,
) -> tuple[Placement | None, RecordingCopies, int]:
    async with sandbox(etcd) as made:
        await made.etcd_down()
        await made.registrations[PRIMARY].close(revoke=False)
        await asyncio.sleep(1.0)
        await made.restart_controller()
        await asyncio.sleep(RESTARTED_OUTAGE_SECONDS - 1.0 - made.coordination.budget)
        await made.etcd_up()
        await asyncio.sleep(LATE_SECONDS)
        made.registrations[PRIMARY] = await made.coordination.register_site(made.record(PRIMARY))
        await asyncio.sleep(SANDBOX.reregistration_seconds)
        return await made.placement(), made.copies, made.first_epoch


def test_a_controller_started_while_etcd_was_down_grants_the_same_grace(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    """Its view's first connection ends a silence as long as an outage's (the drill's
    restarted node can win the election)."""
    placement, copies, first_epoch = asyncio.run(_controller_restarted_during_outage(etcd_cluster))
    assert copies.sealed == [] and copies.promoted == []
    assert placement == Placement(TENANT, PRIMARY, REPLICAS, REPLICAS, epoch=first_epoch)


async def _primary_site_dies_during_outage(
    etcd: LocalEtcdCluster,
) -> tuple[Placement | None, float, float]:
    async with sandbox(etcd) as made:
        registrations = made.registrations
        await made.etcd_down()
        await registrations.pop(PRIMARY).close(revoke=False)
        await made.processes[PRIMARY].kill()  # nothing listens there any more
        await asyncio.sleep(OUTAGE_SECONDS)
        await made.etcd_up()
        async with asyncio.timeout(30):
            await made.copies.moved.wait()
        moved_at = time.monotonic()
        assert made.view.connected_since is not None
        grace_ends = made.view.connected_since + made.controller.timing.outage_grace_seconds
        return await made.placement(), moved_at, grace_ends


def test_a_primary_whose_site_died_during_an_etcd_outage_is_failed_over_by_its_refused_probes(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    placement, moved_at, grace_ends = asyncio.run(_primary_site_dies_during_outage(etcd_cluster))
    assert placement is not None and placement.primary in REPLICAS
    # The refused probes decided, not the end of the grace.
    assert moved_at < grace_ends, (moved_at, grace_ends)


async def _primary_site_killed(etcd: LocalEtcdCluster) -> tuple[Placement | None, float]:
    async with sandbox(etcd) as made:
        registrations = made.registrations
        started = time.monotonic()
        await made.processes[PRIMARY].kill()
        await registrations.pop(PRIMARY).close(revoke=False)  # its lease runs out in etcd
        async with asyncio.timeout(20):
            await made.copies.moved.wait()
        return await made.placement(), time.monotonic() - started


def test_in_steady_state_a_killed_primary_site_is_failed_over_without_any_grace(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    placement, seconds = asyncio.run(_primary_site_killed(etcd_cluster))
    assert placement is not None and placement.primary in REPLICAS
    # Three refused probes, well inside the 3 s lease and the 2 s RTO target.
    assert seconds < 2.0, seconds
