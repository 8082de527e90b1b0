"""Site leases and the controller election, with the holders in child processes."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import pytest

from assembly.sandbox.etcd import LocalEtcdCluster
from failover.coordination import SANDBOX, LeadershipLost, connect_etcd
from failover.placement.policy import Placement

from .conftest import Child

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]

TTL = SANDBOX.lease_ttl_seconds
# etcd checks for expired leases every 500 ms; a child may be slow to start.
MARGIN = 1.5


async def _wait_for(condition: Callable[[], Awaitable[bool]], within: float) -> float:
    """Poll an async condition every 100 ms; the seconds it took."""
    started = time.monotonic()
    while True:
        if await condition():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.1)


def test_frozen_site_loses_its_key_within_the_ttl(
    etcd_cluster: LocalEtcdCluster, spawn: Callable[..., Child]
) -> None:
    endpoints = ",".join(etcd_cluster.endpoints)
    holder = spawn("site", endpoints, "frozen-site")
    holder.wait_for("READY", timeout=15)

    async def scenario() -> None:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:

            async def present() -> bool:
                return "frozen-site" in await coordination.list_sites()

            async def absent() -> bool:
                return not await present()

            assert await present()
            await asyncio.sleep(TTL)  # a few renewals: the lease is kept alive
            assert await present()

            holder.signal(signal.SIGSTOP)
            took = await _wait_for(absent, within=TTL + MARGIN)
            assert took <= TTL + MARGIN

            holder.signal(signal.SIGCONT)
            holder.wait_for("REREGISTERED", timeout=TTL + MARGIN)
            await _wait_for(present, within=2)

    asyncio.run(scenario())


def test_controller_moves_when_its_process_is_killed(
    etcd_cluster: LocalEtcdCluster, spawn: Callable[..., Child]
) -> None:
    endpoints = ",".join(etcd_cluster.endpoints)
    first = spawn("campaign", endpoints, "controller-a")
    first_term = int(first.wait_for("LEADER", timeout=15).split()[1])
    second = spawn("campaign", endpoints, "controller-b")
    second.wait_for("CANDIDATE", timeout=15)

    async def controller() -> tuple[str, int] | None:
        async with connect_etcd(etcd_cluster.endpoints) as coordination:
            return await coordination.current_controller()

    assert asyncio.run(controller()) == ("controller-a", first_term)
    time.sleep(1.5)  # the candidate stays a candidate while the leader renews
    assert not any(line.startswith("LEADER") for line in second.drain())

    first.signal(signal.SIGKILL)
    killed = time.monotonic()
    second_term = int(second.wait_for("LEADER", timeout=TTL + MARGIN).split()[1])
    assert time.monotonic() - killed <= TTL + MARGIN
    assert second_term > first_term
    assert asyncio.run(controller()) == ("controller-b", second_term)


def test_resign_hands_over_at_once_and_fences_the_old_term(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    async def scenario() -> None:
        async with (
            connect_etcd(etcd_cluster.endpoints) as one,
            connect_etcd(etcd_cluster.endpoints) as two,
        ):
            a = one.campaign("node-a")
            await asyncio.wait_for(a.wait_elected(), 5)
            lost: list[int] = []
            a.on_lost(lost.append)
            b = two.campaign("node-b")
            await asyncio.sleep(0.3)
            assert a.is_leader and not b.is_leader

            placement = Placement("041009", "site-a", ("site-b",), ("site-b",))
            revision = await one.put_placement_if("041009", placement, 0, leader=a)
            old_term = a.term

            started = time.monotonic()
            await a.resign()
            assert lost == [old_term] and not a.is_leader
            await asyncio.wait_for(b.wait_elected(), 5)
            assert time.monotonic() - started < 2  # no waiting for a TTL
            assert b.term > old_term

            # A write fenced by the old term fails even though the CAS would pass.
            with pytest.raises(LeadershipLost):
                await one.put_placement_if("041009", placement, revision, leader=a)
            assert await two.put_placement_if("041009", placement, revision, leader=b) > revision

    asyncio.run(scenario())


def test_ending_a_controllers_term_elects_another_at_once_and_fences_the_old(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    """What a candidate does when the controller's site refuses connections: the leader
    key of that term is deleted, another candidate is elected without waiting for the
    lease, the old term's writes fail, and a holder still alive after all steps down."""

    async def scenario() -> None:
        async with (
            connect_etcd(etcd_cluster.endpoints) as one,
            connect_etcd(etcd_cluster.endpoints) as two,
        ):
            a = one.campaign("node-a")
            await asyncio.wait_for(a.wait_elected(), 5)
            b = two.campaign("node-b")
            await asyncio.sleep(0.3)
            old_term = a.term
            placement = Placement("041009", "site-a", ("site-b",), ("site-b",))
            revision = await one.put_placement_if("041009", placement, 0, leader=a)

            assert not await two.end_controller_term(old_term - 1)  # not the current term
            assert a.is_leader and not b.is_leader

            started = time.monotonic()
            assert await two.end_controller_term(old_term)
            await asyncio.wait_for(b.wait_elected(), 5)
            assert time.monotonic() - started < TTL  # no waiting for the lease
            assert b.term > old_term
            assert not await two.end_controller_term(old_term)  # already over

            with pytest.raises(LeadershipLost):
                await one.put_placement_if("041009", placement, revision, leader=a)
            await asyncio.wait_for(a.wait_lost(), TTL)  # alive after all: it steps down
            assert await two.current_controller() == ("node-b", b.term)

    asyncio.run(scenario())
