"""The controller's shell (failover/controller/loop.py) against in-memory coordination:
elected, it promotes the tenants of a site whose key is gone, in one batch; it does
nothing while etcd is unreachable; right after an etcd outage a missing key waits for
the grace. No etcd processes: each test takes about a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from failover.controller.detection import ControllerTiming
from failover.controller.engine import Promotion
from failover.controller.loop import Controller
from failover.coordination.interface import ClusterView
from failover.coordination.memory import MemoryCoordination
from tests.failover.controller.conftest import RECORDS, World
from tests.failover.controller.copies import MemoryCopies

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]
REPLICAS = ("gcp-osaka", "sakura-ishikari")
TENANTS = ("041009", "011002", "472018")
TIMING = ControllerTiming(
    tick_seconds=0.02,
    startup_grace_seconds=0.0,
    outage_silence_seconds=0.2,
    outage_grace_seconds=1.0,
)


class Promoted(list[Promotion]):
    """The controller's promotions, as its hook reports them."""

    def __init__(self) -> None:
        super().__init__()
        self.all_done = asyncio.Event()

    def report(self, promotion: Promotion) -> None:
        self.append(promotion)
        if len(self) == len(TENANTS):
            self.all_done.set()


@asynccontextmanager
async def leading(world: World) -> AsyncIterator[tuple[Controller, Promoted]]:
    for tenant in TENANTS:
        await world.place(tenant, "aws-tokyo", REPLICAS)
    promoted = Promoted()
    controller = Controller(
        "aws-tokyo", world.coordination, world.view, world.copies, TIMING, promoted.report
    )
    task = asyncio.create_task(controller.run())
    try:
        async with asyncio.timeout(5):
            await world.view.wait_until(lambda v: v.controller is not None)
        await asyncio.sleep(5 * TIMING.tick_seconds)  # it has seen every site alive
        yield controller, promoted
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def primaries(world: World) -> set[str]:
    placements, _ = await world.coordination.list_placements()
    return {placements[t].primary for t in TENANTS}


async def test_the_tenants_of_a_lost_site_are_promoted_in_one_batch(world: World) -> None:
    async with leading(world) as (_, promoted):
        world.copies.down.add("aws-tokyo")
        world.coordination.expire("aws-tokyo")
        async with asyncio.timeout(5):
            await promoted.all_done.wait()
    assert all(p.ok and p.old_primary == "aws-tokyo" for p in promoted)
    assert (await primaries(world)) <= set(REPLICAS)
    # one seal request per replica site, one promotion per new primary's site
    assert sorted(site for site, _ in world.copies.steps("seal")) == sorted(REPLICAS)
    assert len(world.copies.steps("promote")) == len({p.new_primary for p in promoted})


async def test_nothing_moves_while_etcd_is_unreachable(world: World) -> None:
    async with leading(world) as (controller, promoted):
        world.coordination.stop()
        world.coordination.expire("aws-tokyo")  # unseen: the view serves what it had
        await asyncio.sleep(0.5)
        assert promoted == [] and world.copies.calls == []
        assert controller.lost_sites() == set()


async def test_after_an_outage_a_missing_key_waits_for_the_grace(world: World) -> None:
    async with leading(world) as (_, promoted):
        world.coordination.stop()
        world.coordination.expire("aws-tokyo")  # its lease lapsed during the outage
        await asyncio.sleep(TIMING.outage_silence_seconds + 0.1)
        world.coordination.start()
        await asyncio.sleep(TIMING.outage_grace_seconds / 2)
        assert promoted == []  # it may just not have registered again yet
        await world.coordination.register_site(RECORDS["aws-tokyo"])  # it had not died
        await asyncio.sleep(TIMING.outage_grace_seconds)
        assert promoted == [] and (await primaries(world)) == {"aws-tokyo"}


async def test_after_an_outage_a_site_that_stays_away_is_lost_once_the_grace_ends(
    world: World,
) -> None:
    async with leading(world) as (_, promoted):
        world.coordination.stop()
        world.coordination.expire("aws-tokyo")
        await asyncio.sleep(TIMING.outage_silence_seconds + 0.1)
        world.coordination.start()
        back = time.monotonic()
        async with asyncio.timeout(5):
            await promoted.all_done.wait()
        assert time.monotonic() - back >= TIMING.outage_grace_seconds * 0.9
    assert (await primaries(world)) <= set(REPLICAS)


class HealthzServer:
    """A site's /healthz on a real socket: it answers, hangs (a busy or cut-off site: the
    probe times out), or is closed (nothing listens: the probe is refused)."""

    def __init__(self) -> None:
        self.hang = False
        self.server: asyncio.Server | None = None
        #: probes answered so far
        self.answered = 0
        self._an_answer = asyncio.Event()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.hang:
                await asyncio.sleep(30)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the prober gave up first (its timeout, on a loaded machine)
        finally:
            writer.close()
        self.answered += 1
        self._an_answer.set()

    async def answering(self, probes: int = 3) -> None:
        """Until it has answered this many more probes (seconds on a loaded machine)."""
        goal = self.answered + probes
        async with asyncio.timeout(10):
            while self.answered < goal:
                self._an_answer.clear()
                await self._an_answer.wait()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@asynccontextmanager
async def two_candidates(
    healthz: HealthzServer, probe_timeout: float = 1.0
) -> AsyncIterator[tuple[MemoryCoordination, ClusterView]]:
    """aws-tokyo's controller (elected first, its site's /healthz is ``healthz``) and
    gcp-osaka's, a candidate; the view is the candidate's."""
    coordination = MemoryCoordination()
    urls = {"aws-tokyo": await healthz.start(), "gcp-osaka": "http://127.0.0.1:9"}
    for name, url in urls.items():
        record = RECORDS[name]
        await coordination.register_site(replace(record, urls=(url,)))
    # by default a generous timeout: under load a probe that times out clears "answered",
    # and refusals count only after an answer
    timing = replace(TIMING, probe_interval_seconds=0.05, probe_timeout_seconds=probe_timeout)
    tasks, views = [], []
    for name in urls:
        view = coordination.cluster_view()
        await view.start()
        views.append(view)
        controller = Controller(name, coordination, view, MemoryCopies(view), timing)
        tasks.append(asyncio.create_task(controller.run()))
        async with asyncio.timeout(5):
            await view.wait_until(lambda v: v.controller is not None)
    try:
        yield coordination, views[1]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await coordination.close()


async def test_a_controller_whose_site_refuses_connections_loses_its_term_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Candidates probe the controller's site; refused three times in a row (the node that
    ran it is gone) after it answered, its term is ended and a candidate is elected,
    without waiting for its lease (3 s; ~5.5 s when etcd's raft leader went with it). The
    new controller starts its term with those refusals."""
    carried: list[tuple[str, set[str]]] = []
    new_term = asyncio.Event()
    remember = Controller._remember_the_old_controllers_site

    def recording(controller: Controller) -> None:
        remember(controller)
        carried.append((controller.node_id, controller.probes.failing(controller.timing)))
        if controller.node_id == "gcp-osaka":
            new_term.set()

    monkeypatch.setattr(Controller, "_remember_the_old_controllers_site", recording)
    healthz = HealthzServer()
    async with two_candidates(healthz) as (_, view):
        first = view.controller
        assert first is not None and first[0] == "aws-tokyo"
        await healthz.answering()  # it answers the candidate's probes
        assert view.controller == first
        await healthz.close()
        # (in-memory coordination has no lease expiry: any new term is the candidates')
        async with asyncio.timeout(10):
            await view.wait_until(lambda v: v.controller is not None and v.controller != first)
        now = view.controller
        assert now is not None and now[0] == "gcp-osaka" and now[1] > first[1]
        async with asyncio.timeout(2):  # its term starts (its campaign task wakes up)
            await new_term.wait()
        assert ("gcp-osaka", {"aws-tokyo"}) in carried  # its first probes of the dead site


async def test_a_controller_whose_site_is_only_slow_keeps_its_term() -> None:
    """Probes that time out (a busy or cut-off site) end nothing: only its lease may."""
    healthz = HealthzServer()
    async with two_candidates(healthz, probe_timeout=0.2) as (_, view):
        first = view.controller
        await healthz.answering()
        healthz.hang = True
        await asyncio.sleep(1.5)  # ~7 probes unanswered
        assert view.controller == first
        await healthz.close()


async def test_the_new_term_starts_with_the_refusals_that_ended_the_old_one(world: World) -> None:
    """The candidate that ended a controller's term because its site refused connections
    starts its own term with those refusals: the old controller's site, which held
    primaries too, is lost at once instead of after three more probes."""
    controller = Controller("gcp-osaka", world.coordination, world.view, world.copies, TIMING)
    controller.probes.seen.add("aws-tokyo")
    controller._controller_refusals = ("aws-tokyo", TIMING.probe_failures, time.monotonic())
    controller._remember_the_old_controllers_site()
    assert "aws-tokyo" in controller.observe().failing
    controller._controller_refusals = ("aws-tokyo", TIMING.probe_failures, time.monotonic() - 60)
    controller.probes.clear()
    controller._remember_the_old_controllers_site()  # too old: a restarted node answers
    assert "aws-tokyo" not in controller.observe().failing
    # Another candidate ended the term when this one had seen two refusals: the new term
    # starts with those two, and one more refused probe makes the site lost.
    controller.probes.clear()
    controller._controller_refusals = ("aws-tokyo", TIMING.probe_failures - 1, time.monotonic())
    controller._remember_the_old_controllers_site()
    assert "aws-tokyo" not in controller.observe().failing
    controller.probes.record("aws-tokyo", "refused")
    assert "aws-tokyo" in controller.observe().failing


async def test_a_controller_elected_as_a_live_sites_lease_lapses_probes_it_first(
    world: World,
) -> None:
    """The soak's liveness failure (docs/drills.md, "100 回の soak"): after an etcd stall
    the sites' leases lapsed together, and a controller elected at that moment (no probe
    answers yet in its term) judged the re-registering primary's site lost by its key
    alone and sealed its replicas. Now the term's first probe of the site comes first:
    it answers, so the site gets the grace, registers again, and nothing moves."""
    healthz = HealthzServer()
    url = await healthz.start()
    await world.coordination.register_site(replace(RECORDS["aws-tokyo"], urls=(url,)))
    for tenant in TENANTS:
        await world.place(tenant, "aws-tokyo", REPLICAS)
    timing = replace(TIMING, probe_interval_seconds=0.05, probe_timeout_seconds=0.5)
    controller = Controller("gcp-osaka", world.coordination, world.view, world.copies, timing)
    async with asyncio.timeout(5):
        await world.view.wait_until(lambda v: "aws-tokyo" in v.sites())
    controller.observe()  # a candidate that has seen the site alive, at its URL
    world.coordination.expire("aws-tokyo")  # its lease lapsed (etcd stalled): registering
    async with asyncio.timeout(5):
        await world.view.wait_until(lambda v: "aws-tokyo" not in v.sites())
    task = asyncio.create_task(controller.run())  # the only candidate: elected at once
    try:
        await asyncio.sleep(timing.outage_grace_seconds * 0.6)
        await world.coordination.register_site(replace(RECORDS["aws-tokyo"], urls=(url,)))
        await asyncio.sleep(timing.outage_grace_seconds * 0.6)
        assert world.view.controller is not None and world.view.controller[0] == "gcp-osaka"
        assert world.copies.steps("seal") == [] and (await primaries(world)) == {"aws-tokyo"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await healthz.close()


async def test_a_refusal_is_confirmed_at_once_not_a_probe_interval_later(world: World) -> None:
    """A site that refuses a probe is probed again right away until its refusals make it
    lost: the three refusals used to be an interval apart (0.5-0.75 s of each site kill's
    RTO at the 0.25 s interval). Here the interval is 3 s: the site, gone just after a
    round, must be lost soon after the next round, not two intervals after it."""
    healthz = HealthzServer()
    url = await healthz.start()
    await world.coordination.register_site(replace(RECORDS["aws-tokyo"], urls=(url,)))
    for tenant in TENANTS:
        await world.place(tenant, "aws-tokyo", REPLICAS)
    timing = replace(TIMING, probe_interval_seconds=3.0, probe_timeout_seconds=0.5)
    promoted = Promoted()
    controller = Controller(
        "gcp-osaka", world.coordination, world.view, world.copies, timing, promoted.report
    )
    task = asyncio.create_task(controller.run())
    try:
        async with asyncio.timeout(5):  # elected, and its first round of probes answered
            await world.view.wait_until(lambda v: v.controller is not None)
            for _ in range(250):
                if "aws-tokyo" in controller.probes.answered:
                    break
                await asyncio.sleep(0.02)
        gone = time.monotonic()
        await healthz.close()  # the node is gone: its key stays until the lease runs out
        world.copies.down.add("aws-tokyo")
        async with asyncio.timeout(10):
            await promoted.all_done.wait()
        # the next round comes <= 3 s after the close; before, lost 6 s after that round
        assert time.monotonic() - gone < timing.probe_interval_seconds + 1.5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert all(p.ok and p.old_primary == "aws-tokyo" for p in promoted)
