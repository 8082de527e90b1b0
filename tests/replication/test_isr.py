"""The in-sync set in sync mode: a replica too slow is removed by compare-and-swap
before any write is acknowledged without it; below min_insync writes get a 503 that
says why; a replica that caught up comes back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from replication.primary.tenant import Deposed, NotEnoughInSync
from tests.replication.harness import SENDAI, Cluster, commit, write_audit

pytestmark = pytest.mark.anyio


async def test_slow_replica_dropped_only_after_the_cas_then_readded(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    cluster.router.down.add("site-c")  # c stops answering
    cluster.placements.gate = asyncio.Event()  # and every CAS is held

    write = asyncio.create_task(commit(a, write_audit()))
    await asyncio.sleep(cluster.config.ack_timeout * 3)
    assert not write.done(), "acknowledged without c before the CAS removed it"
    assert cluster.placements.placement(SENDAI).in_sync == ("site-b", "site-c")

    cluster.placements.gate.set()
    await asyncio.wait_for(write, 10)
    shrink = [call for call in cluster.placements.calls if call[0] == "shrink"]
    assert shrink == [("shrink", SENDAI, ("site-c",), shrink[0][3], True)]
    assert cluster.placements.placement(SENDAI).in_sync == ("site-b",)

    # Writes go on with b alone; c comes back, catches up, and is added again by CAS.
    await commit(a, write_audit(count=5))
    cluster.router.down.discard("site-c")
    await cluster.wait_for(
        lambda: cluster.placements.placement(SENDAI).in_sync == ("site-b", "site-c"),
        what="c back in the ISR",
    )
    assert cluster["site-c"].state().head >= a.state().head - 0
    await commit(a, write_audit())
    await cluster.caught_up("site-b", "site-c")
    assert a.digest() == cluster["site-b"].digest() == cluster["site-c"].digest()


async def test_a_dropped_replica_is_not_readded_at_once_after_the_drop(cluster: Cluster) -> None:
    # A replica that comes back the moment it is dropped (a thawed site, a flapping link)
    # waits one ack timeout before it may rejoin: flapping in and out would stall every
    # write for an ack timeout each time.
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    cluster.router.down.add("site-c")
    await commit(a, write_audit())
    dropped_at = asyncio.get_running_loop().time()
    assert cluster.placements.placement(SENDAI).in_sync == ("site-b",)

    cluster.router.down.discard("site-c")
    await cluster.caught_up("site-c")
    await cluster.wait_for(
        lambda: cluster.placements.placement(SENDAI).in_sync == ("site-b", "site-c"),
        what="c back in the ISR",
    )
    assert asyncio.get_running_loop().time() - dropped_at >= cluster.config.ack_timeout * 0.9


async def test_below_min_insync_writes_get_a_503_saying_why(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b", "site-c"), min_insync=2)
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    cluster.router.down.add("site-c")

    with pytest.raises(NotEnoughInSync) as refused:
        await commit(a, write_audit())
    assert "min_insync=2" in refused.value.detail and "site-c" in refused.value.detail
    # Nothing was removed: the ISR still names replicas holding every acknowledged entry.
    assert cluster.placements.placement(SENDAI).in_sync == ("site-b", "site-c")
    assert not [call for call in cluster.placements.calls if call[0] == "shrink"]

    # Over HTTP the client gets problem+json 503, and a retry succeeds once c is back.
    http = httpx.AsyncClient(transport=cluster.router, base_url="http://site-a")
    response = await http.post(f"/test/{SENDAI}/audit")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "min_insync=2" in response.json()["detail"]
    assert response.json()["type"].endswith("/not-enough-in-sync")
    assert int(response.headers["Retry-After"]) >= 1  # a client knows when to try again

    cluster.router.down.discard("site-c")
    response = await http.post(f"/test/{SENDAI}/audit")
    assert response.status_code == 200, response.text
    await http.aclose()


async def test_an_isr_below_min_insync_refuses_before_the_commit(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b",), in_sync=(), min_insync=1)
    a = cluster["site-a"]
    await cluster.wait_for(lambda: SENDAI in a.node.primaries, what="a to run the tenant")
    with pytest.raises(NotEnoughInSync):
        a.node.write_gate(SENDAI)


async def test_a_lost_cas_race_is_not_acknowledged(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    cluster.router.down.add("site-c")
    cluster.placements.gate = asyncio.Event()
    write = asyncio.create_task(commit(a, write_audit()))
    await asyncio.sleep(cluster.config.ack_timeout * 2)
    # Meanwhile the controller promoted b: the placement moved on, the CAS must lose.
    cluster.place("site-b", ("site-a", "site-c"), in_sync=())
    cluster.placements.gate.set()
    with pytest.raises(Deposed):
        await asyncio.wait_for(write, 10)
    assert [call[-1] for call in cluster.placements.calls] == [False]


async def test_async_mode_acknowledges_after_the_local_commit(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b",), mode="async")
    await cluster.create_tenant("site-a")
    cluster.router.down.add("site-b")
    await asyncio.wait_for(commit(cluster["site-a"], write_audit()), 1.0)
    cluster.router.down.discard("site-b")
    await cluster.caught_up("site-b")
    assert cluster["site-a"].digest() == cluster["site-b"].digest()


async def test_an_idle_in_sync_replica_is_heard_less_often_and_a_write_still_ships_at_once(
    cluster: Cluster,
) -> None:
    # A thousand idle tenants' heartbeats kept a small site's event loop so busy that its
    # etcd lease lapsed: a caught-up replica in the in-sync set hears from an idle primary
    # ever less often (doubling from heartbeat_seconds), and a write still wakes the stream.
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    await commit(a, write_audit())
    await cluster.caught_up("site-b", "site-c")
    entries = f"/{SENDAI}/entries"

    def heard(site: str) -> int:
        return sum(
            n
            for (host, path), n in cluster.router.delivered.items()
            if host == site and path.endswith(entries)
        )

    before = {site: heard(site) for site in ("site-b", "site-c")}
    idle = 3.0
    await asyncio.sleep(idle)
    fixed_rate = idle / cluster.config.heartbeat_seconds  # 15 at a fixed interval
    for site, count in before.items():
        assert 1 <= heard(site) - count <= fixed_rate / 2, (site, heard(site) - count)

    # The next write is acknowledged by both replicas at once, not at the next heartbeat.
    await asyncio.wait_for(commit(a, write_audit()), cluster.config.ack_timeout)
    assert cluster.placements.placement(SENDAI).in_sync == ("site-b", "site-c")


#: a and b in one hazard zone (the Nankai Trough coast), c far away (Hokkaido)
NANKAI_AND_HOKKAIDO = {
    "site-a": frozenset({"nankai"}),
    "site-b": frozenset({"nankai"}),
    "site-c": frozenset({"hokkaido"}),
}


async def test_the_only_replica_in_another_zone_is_not_dropped_writes_get_a_503(
    cluster: Cluster,
) -> None:
    # The distant replica is the natural laggard. Counting replicas alone dropped it and
    # acknowledged writes held only inside one zone: losing that zone lost them.
    cluster.place("site-a", ("site-b", "site-c"), zones=NANKAI_AND_HOKKAIDO)
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    cluster.router.down.add("site-c")

    with pytest.raises(NotEnoughInSync) as refused:
        await commit(a, write_audit())
    assert "nankai" in refused.value.detail and "site-c" in refused.value.detail
    assert cluster.placements.placement(SENDAI).in_sync == ("site-b", "site-c")
    assert not [call for call in cluster.placements.calls if call[0] == "shrink"]

    # Over HTTP: problem+json 503 not-enough-in-sync naming the zone rule, Japanese first.
    http = httpx.AsyncClient(transport=cluster.router, base_url="http://site-a")
    response = await http.post(f"/test/{SENDAI}/audit")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/not-enough-in-sync")
    assert "ハザードゾーン" in problem["detail"] and "hazard zone nankai" in problem["detail"]

    # c back: it catches up, and writes are acknowledged again.
    cluster.router.down.discard("site-c")
    response = await http.post(f"/test/{SENDAI}/audit")
    assert response.status_code == 200, response.text
    await http.aclose()
    await cluster.caught_up("site-b", "site-c")


async def test_a_laggard_inside_the_primarys_zone_is_still_dropped(cluster: Cluster) -> None:
    # The zone rule holds with c alone: b (a's zone) is dropped as before.
    cluster.place("site-a", ("site-b", "site-c"), zones=NANKAI_AND_HOKKAIDO)
    await cluster.create_tenant("site-a")
    cluster.router.down.add("site-b")
    await commit(cluster["site-a"], write_audit())
    assert cluster.placements.placement(SENDAI).in_sync == ("site-c",)


async def test_an_isr_without_a_copy_outside_the_zone_refuses_before_the_commit(
    cluster: Cluster,
) -> None:
    cluster.router.down.add("site-c")  # out of the set, and it cannot rejoin meanwhile
    cluster.place("site-a", ("site-b", "site-c"), in_sync=("site-b",), zones=NANKAI_AND_HOKKAIDO)
    a = cluster["site-a"]
    await cluster.wait_for(lambda: SENDAI in a.node.primaries, what="a to run the tenant")
    with pytest.raises(NotEnoughInSync):
        a.node.write_gate(SENDAI)
    # min_insync_zones=1 opts the tenant out of the zone rule (counts only).
    cluster.place(
        "site-a",
        ("site-b", "site-c"),
        in_sync=("site-b",),
        zones=NANKAI_AND_HOKKAIDO,
        min_insync_zones=1,
    )
    await cluster.wait_for(
        lambda: a.node.primaries[SENDAI].placement().min_insync_zones == 1, what="new placement"
    )
    a.node.write_gate(SENDAI)
