"""The watch-fed cluster view: static stability, reconnects, no event missed or repeated."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aetcd
import pytest

from assembly.sandbox.etcd import LocalEtcdCluster
from failover.coordination import (
    ClusterEvent,
    ClusterView,
    CoordinationUnavailable,
    PlacementConflict,
    SiteRecord,
    connect_etcd,
)
from failover.coordination.etcd import EtcdCoordination
from failover.placement.policy import Placement

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]

TENANTS = ("011002", "041009", "131016")  # Sapporo, Sendai, Chiyoda
SITES = ("aws-tokyo", "sakura-ishikari", "oci-osaka")


def _placement(tenant: str, n: int) -> Placement:
    primary = SITES[n % 3]
    replicas = (SITES[(n + 1) % 3], SITES[(n + 2) % 3])
    return Placement(tenant, primary, replicas, replicas)


def _site(name: str) -> SiteRecord:
    return SiteRecord(name, "test", "loopback", ("nowhere",), ("http://127.0.0.1:1",))


def _member_of(cluster: LocalEtcdCluster, endpoint: str) -> int:
    return cluster.endpoints.index(endpoint)


async def _write(coordination: EtcdCoordination, tenant: str, n: int) -> int:
    """One CAS write that retries through outages; the revision of the write.

    Each test has one writer per tenant, so when an attempt ended without an
    answer and the key has moved past the revision it expected, it applied.
    """
    placement = _placement(tenant, n)
    unknown: int | None = None  # expected revision of an attempt with no answer
    while True:
        try:
            _, revision = await coordination.get_placement(tenant)
            if unknown is not None and revision > unknown:
                return revision
            unknown = revision
            return await coordination.put_placement_if(tenant, placement, revision)
        except (CoordinationUnavailable, PlacementConflict):
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _coordination(endpoints: list[str]) -> AsyncIterator[EtcdCoordination]:
    coordination = EtcdCoordination(endpoints)
    try:
        yield coordination
    finally:
        await coordination.close()


async def _converged(view: ClusterView, expected: dict[str, int], within: float = 10) -> None:
    """Wait until the view holds each tenant's placement at the given epoch."""

    def done(v: ClusterView) -> bool:
        return all(
            (p := v.placement(t)) is not None and p.epoch == rev for t, rev in expected.items()
        )

    async with asyncio.timeout(within):
        await view.wait_until(done)


async def _eventually(condition: Callable[[], bool], within: float) -> None:
    for _ in range(int(within * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {within} s")


def test_static_stability_when_every_member_is_down(etcd_cluster: LocalEtcdCluster) -> None:
    async def scenario() -> None:
        async with _coordination(etcd_cluster.endpoints) as coordination:
            view = coordination.cluster_view()
            assert await view.start()
            registration = await coordination.register_site(_site("aws-tokyo"))
            known = {
                t: await coordination.put_placement_if(t, _placement(t, 0), 0) for t in TENANTS
            }
            await _converged(view, known)
            assert "aws-tokyo" in view.sites()

            etcd_cluster.stop()
            async with asyncio.timeout(5):
                await view.wait_until(lambda v: not v.connected)
            # Readers still get the last known placements, and nothing raises.
            for tenant, revision in known.items():
                placement = view.placement(tenant)
                assert placement is not None and placement.epoch == revision
            assert set(view.placements()) == set(TENANTS)
            # No failover can be made: writes are refused, not guessed.
            with pytest.raises(CoordinationUnavailable):
                await coordination.put_placement_if(TENANTS[0], _placement(TENANTS[0], 1), 1)
            with pytest.raises(CoordinationUnavailable):
                await coordination.get_placement(TENANTS[0])
            # The site can tell that its lease is no longer renewed (self-fencing).
            await _eventually(lambda: not registration.registered, within=5)
            await asyncio.sleep(0.5)
            assert view.placement(TENANTS[0]) is not None

            etcd_cluster.start_all()
            later = {TENANTS[0]: await _write(coordination, TENANTS[0], 1)}
            await _converged(view, later)
            assert view.connected
            assert view.placement(TENANTS[1]) is not None
            # The site registers again by itself (a new lease; etcd may also have
            # kept the old one alive, as it extends every lease after a restart).
            await _eventually(lambda: registration.registered, within=5)
            async with asyncio.timeout(5):
                await view.wait_until(lambda v: "aws-tokyo" in v.sites())
            await registration.close()

    asyncio.run(scenario())


def test_view_converges_after_member_restart_and_replacement(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    async def scenario() -> None:
        async with _coordination(etcd_cluster.endpoints) as coordination:
            view = coordination.cluster_view()
            assert await view.start()
            revisions = {t: await _write(coordination, t, 0) for t in TENANTS}
            await _converged(view, revisions)

            # Restart the member the view is watching through; write meanwhile.
            member = _member_of(etcd_cluster, view.endpoint)  # type: ignore[attr-defined]
            etcd_cluster.stop_member(member)
            revisions[TENANTS[0]] = await _write(coordination, TENANTS[0], 1)
            etcd_cluster.start_member(member)
            revisions[TENANTS[1]] = await _write(coordination, TENANTS[1], 1)
            await _converged(view, revisions)

            # Replace (fresh data dir, new member id) the member it watches now.
            member = _member_of(etcd_cluster, view.endpoint)  # type: ignore[attr-defined]
            etcd_cluster.replace_member(member)
            revisions[TENANTS[2]] = await _write(coordination, TENANTS[2], 1)
            await _converged(view, revisions)

            # And one on new ports: the old address now leads nowhere.
            other = (member + 1) % 3
            etcd_cluster.replace_member(other, new_ports=True)
            for tenant in TENANTS:
                revisions[tenant] = await _write(coordination, tenant, 2)
            await _converged(view, revisions)
            assert view.revision >= max(revisions.values())

    asyncio.run(scenario())


def test_no_event_missed_or_repeated_across_reconnects(etcd_cluster: LocalEtcdCluster) -> None:
    async def scenario() -> None:
        async with (
            _coordination(etcd_cluster.endpoints) as writer,
            _coordination(etcd_cluster.endpoints) as reader,
        ):
            view = reader.cluster_view()
            events: list[ClusterEvent] = []
            view.subscribe(
                lambda e: events.append(e) if e.scope == "placement" and not e.resync else None
            )
            assert await view.start()
            written: list[int] = []
            done = asyncio.Event()

            async def write_steadily() -> None:
                n = 0
                while not done.is_set():
                    tenant = TENANTS[n % len(TENANTS)]
                    written.append(await _write(writer, tenant, n))
                    n += 1
                    await asyncio.sleep(0.02)

            task = asyncio.create_task(write_steadily())
            await asyncio.sleep(0.5)
            # 1. kill -9 the member the view watches through.
            member = _member_of(etcd_cluster, view.endpoint)  # type: ignore[attr-defined]
            await asyncio.to_thread(etcd_cluster.stop_member, member, kill=True)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(etcd_cluster.start_member, member)
            async with asyncio.timeout(10):
                await view.wait_until(lambda v: v.connected)
            await asyncio.sleep(0.5)
            # 2. freeze (SIGSTOP) the one it watches through now: a silent stream.
            member = _member_of(etcd_cluster, view.endpoint)  # type: ignore[attr-defined]
            etcd_cluster.freeze_member(member)
            await asyncio.sleep(2.5)
            etcd_cluster.thaw_member(member)
            reconnects = view.reconnects  # type: ignore[attr-defined]
            await asyncio.sleep(0.5)
            done.set()
            await task

            async with asyncio.timeout(10):
                await view.wait_for_revision(max(written))
            seen = [e.revision for e in events]
            assert len(seen) == len(set(seen)), "an event was applied twice"
            assert sorted(seen) == seen, "events out of order"
            assert set(seen) == set(written), (
                f"missed: {sorted(set(written) - set(seen))}, "
                f"extra: {sorted(set(seen) - set(written))}"
            )
            assert reconnects >= 2  # the kill and the freeze both forced a reconnect
            assert len(written) > 20

    asyncio.run(scenario())


def test_compacted_history_relists_and_reports_the_difference(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    async def scenario() -> None:
        endpoints = etcd_cluster.endpoints
        # The view knows only member 0; the writer only members 1 and 2.
        async with _coordination(endpoints[:1]) as reader, _coordination(endpoints[1:]) as writer:
            view = reader.cluster_view()
            events: list[ClusterEvent] = []
            view.subscribe(events.append)
            assert await view.start()
            registration = await writer.register_site(_site("oci-osaka"))
            first = await _write(writer, TENANTS[0], 0)
            await _converged(view, {TENANTS[0]: first})
            assert "oci-osaka" in view.sites()

            etcd_cluster.stop_member(0)
            second = await _write(writer, TENANTS[0], 1)
            third = await _write(writer, TENANTS[1], 0)
            await registration.close()  # the site key is deleted
            client = aetcd.Client(*endpoints[1].split(":"))
            async with client:
                status = await client.get(b"/yui/placements/" + TENANTS[1].encode())
                await client.compact(status.header.revision, physical=True)
            relists = view.relists  # type: ignore[attr-defined]
            etcd_cluster.start_member(0)

            await _converged(view, {TENANTS[0]: second, TENANTS[1]: third})
            async with asyncio.timeout(5):
                await view.wait_until(lambda v: "oci-osaka" not in v.sites())
            assert view.relists == relists + 1  # type: ignore[attr-defined]
            resynced = {(e.kind, e.scope, e.name) for e in events if e.resync}
            assert ("put", "placement", TENANTS[0]) in resynced
            assert ("put", "placement", TENANTS[1]) in resynced
            assert ("delete", "site", "oci-osaka") in resynced

    asyncio.run(scenario())


def test_connect_etcd_gives_the_interface() -> None:
    coordination = connect_etcd(["127.0.0.1:1"])
    assert isinstance(coordination, EtcdCoordination)
    with pytest.raises(ValueError):
        connect_etcd([])
    with pytest.raises(ValueError):
        connect_etcd(["no-port"])


def test_a_member_the_watch_loses_is_left_by_the_nodes_other_links(
    etcd_cluster: LocalEtcdCluster,
) -> None:
    """The view's watch hears first that its member died (the stream breaks at once).
    The node's other etcd connection — the one a promotion reads and writes placements
    through — used to stay on the dead member until a call failed there (0.3-0.8 s of a
    site kill's RTO); now it moves to the next member without a failed call."""

    async def scenario() -> None:
        async with _coordination(etcd_cluster.endpoints) as coordination:
            view = coordination.cluster_view()
            await view.start()
            async with asyncio.timeout(10):
                await view.wait_until(lambda v: v.connected)
            watched = view.endpoint  # type: ignore[attr-defined]
            # the placements' connection on the same member, connected (white box: the
            # link is private; which member it uses is what this test is about)
            link = coordination._link
            while link.endpoint != watched:
                link.leave(link.endpoint)
            await coordination.list_placements()

            member = _member_of(etcd_cluster, watched)
            await asyncio.to_thread(etcd_cluster.stop_member, member, kill=True)
            async with asyncio.timeout(10):
                await view.wait_until(lambda v: v.connected and v.endpoint != watched)  # type: ignore[attr-defined]
            assert link.endpoint != watched  # moved before any call failed on the dead member
            async with asyncio.timeout(5):
                await coordination.list_placements()
            await view.close()

    asyncio.run(scenario())
