"""Snapshot bootstrap of a new copy, log truncation, and a deposed primary's rejoin."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from replication.truncate import truncate
from tests.replication.harness import SENDAI, Cluster, add_user, commit, write_audit
from yui.errors import Unavailable

pytestmark = pytest.mark.anyio


# Not a test of the in-sync set: while the snapshot streams, a loaded machine may hold back
# every ack past FAST's 1.5 s (seen in CI), which would rightly refuse the next write.
@pytest.mark.ack_timeout(6.0)
async def test_a_new_replica_is_bootstrapped_from_a_snapshot_then_the_tail(
    cluster: Cluster,
) -> None:
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a, d = cluster["site-a"], cluster["site-d"]
    for index in range(20):
        await commit(a, write_audit(count=10, actor=f"writer-{index}"))
    await commit(a, add_user("sato"))
    await cluster.caught_up("site-b")
    head = a.state().head
    # The log below the head is gone (every copy holds it): only a snapshot can seed d.
    assert await anyio.to_thread.run_sync(truncate, a.db, SENDAI, head) == head
    assert a.log_bounds() == (head, head)

    cluster.place("site-a", ("site-b", "site-d"), in_sync=("site-b",))
    writes = asyncio.create_task(commit(a, write_audit(count=5)))
    await cluster.wait_for(lambda: d.state().snapshot_seq is not None, what="the snapshot")
    await writes
    await commit(a, write_audit(count=5))
    await cluster.caught_up("site-d")
    state = d.state()
    assert state.snapshot_seq is not None and state.snapshot_seq >= head
    assert state.log_start == state.snapshot_seq + 1  # then the tail, from S + 1
    assert d.log_bounds()[0] == state.log_start
    assert a.digest() == d.digest() == cluster["site-b"].digest()
    await cluster.wait_for(
        lambda: cluster.placements.placement(SENDAI).in_sync == ("site-b", "site-d"),
        what="d in sync",
    )


async def test_a_new_replica_takes_the_whole_log_while_it_is_there(cluster: Cluster) -> None:
    cluster.place("site-a", (), min_insync=0)
    await cluster.create_tenant("site-a")
    await commit(cluster["site-a"], write_audit(count=30))
    cluster.place("site-a", ("site-c",), in_sync=(), min_insync=0)
    await cluster.caught_up("site-c")
    assert cluster["site-c"].state().snapshot_seq is None
    assert cluster["site-c"].log_bounds()[0] == 1
    assert cluster["site-a"].digest() == cluster["site-c"].digest()


async def test_the_log_is_truncated_below_what_every_copy_holds(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    for _ in range(5):
        await commit(a, write_audit(count=10))
    await cluster.caught_up("site-b", "site-c")

    cluster.router.down.add("site-c")  # c falls behind: nothing it lacks may go
    await commit(a, write_audit(count=10))
    c_holds = c.state().head
    await a.node.retention.truncate_logs()
    assert a.log_bounds()[0] == c_holds
    assert a.state().log_start == c_holds

    cluster.router.down.discard("site-c")
    await cluster.caught_up("site-b", "site-c")
    await commit(a, write_audit())
    await cluster.caught_up("site-b", "site-c")
    # The replicas hold the head; the primary counts it once their answers reach it.
    for _ in range(100):
        await a.node.retention.truncate_logs()
        if a.state().log_start == a.state().head:
            break
        await asyncio.sleep(0.05)
    floor = a.state().log_start
    assert floor == a.state().head == a.log_bounds()[0]
    # The replicas learn the floor with the next batch (or heartbeat) and truncate too.
    await cluster.wait_for(lambda: b.state().truncate_below >= floor, what="b to learn the floor")
    await b.node.retention.truncate_logs()
    assert b.log_bounds()[0] == floor
    assert a.digest() == b.digest() == c.digest()


async def test_a_deposed_primary_rejoins_with_its_unacknowledged_tail_quarantined(
    cluster: Cluster,
) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    await commit(a, write_audit(count=10))
    await cluster.caught_up("site-b", "site-c")
    acknowledged = a.state().head
    a_epoch = a.node.primaries[SENDAI].write_epoch

    # a is cut off; its writes commit locally but are never acknowledged.
    cluster.router.isolated.add("site-a")
    for _ in range(3):
        with pytest.raises(Unavailable):
            await commit(a, add_user(f"lost-{_}"))
    unacknowledged = a.state().head - acknowledged
    assert unacknowledged >= 3

    # The controller seals b and c, and promotes b.
    controller = cluster.client("site-c")
    epoch = cluster.placements.revision + 1
    for replica in ("site-b", "site-c"):
        await controller.seal(replica, SENDAI, epoch)
    cluster.place("site-b", ("site-c", "site-a"), in_sync=("site-c",))
    await cluster.wait_for(lambda: b.state().role == "primary", what="b to take over")
    await commit(b, write_audit(count=4))

    # a comes back: its log diverged; the new primary reseeds it, its tail is kept aside.
    cluster.router.isolated.discard("site-a")
    await cluster.caught_up("site-a", "site-c")
    assert a.state().role == "replica" and a.state().snapshot_seq is not None
    assert a.digest() == b.digest() == c.digest()
    quarantined = await controller.quarantine("site-a", SENDAI)
    assert len(quarantined) == unacknowledged
    assert {q.reason_code for q in quarantined} == {"diverged"}
    assert all(q.seq > acknowledged and q.epoch == a_epoch for q in quarantined)
    assert any(
        q.table == "staff_users" and q.row and q.row["username"] == "lost-0" for q in quarantined
    )
