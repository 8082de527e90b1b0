"""A replica takes batches delivered twice, out of order, with gaps, split mid-transaction
— and ends with exactly the primary's rows."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from replication.entries import LogEntry, read_range
from replication.protocol.wire import Ack
from replication.sql import reading
from replication.state import applying, read
from tests.replication.harness import SENDAI, Cluster, add_user, commit, rename_user, write_audit

pytestmark = pytest.mark.anyio


def body(
    entries: list[LogEntry], *, prev_seq: int, epoch: int = 0, complete: bool = True, **extra: Any
) -> bytes:
    return json.dumps(
        {
            "epoch": epoch,
            "prev_seq": prev_seq,
            "prev_epoch": 0 if prev_seq else None,
            "entries": [e.wire() for e in entries],
            "complete": complete,
            **extra,
        }
    ).encode()


async def primary_log(cluster: Cluster) -> list[LogEntry]:
    """A lone primary (no placement): site-a writes, nothing is shipped by itself."""
    a = cluster["site-a"]
    await cluster.create_tenant("site-a")
    for name in ("sato", "suzuki", "takahashi"):
        await commit(a, add_user(name))
    await commit(a, rename_user("sato", "佐藤"))
    for _ in range(8):  # ~40 entries, in transactions of several
        await commit(a, write_audit(count=3))
    with reading(a.db.engine) as connection:
        return read_range(connection, SENDAI, 1)


async def send(cluster: Cluster, payload: bytes) -> Ack:
    return await cluster.client("site-a").send_batch("site-b", SENDAI, payload, time_limit=10)


async def test_duplicates_reordering_and_gaps(cluster: Cluster) -> None:
    cluster["site-b"].node.receiver.reorder_wait = 0.3
    log = await primary_log(cluster)
    assert len(log) > 30
    first, second, rest = log[:10], log[10:20], log[20:]

    # Pipelined requests race: the second batch arrives first and waits for the first.
    later = asyncio.create_task(send(cluster, body(second, prev_seq=10)))
    await asyncio.sleep(0.05)
    earlier = await send(cluster, body(first, prev_seq=0))
    assert earlier.status == "ok"
    assert (await later).status == "ok"
    b = cluster["site-b"]
    assert b.state().head == 20

    # The same batch again, and one overlapping what the replica holds: duplicates ignored.
    again = await send(cluster, body(first, prev_seq=0))
    assert (again.status, again.durable_seq) == ("ok", 20)
    # (it ends where a transaction ends: a transaction is applied whole, and how many
    # entries one write logs is the kernel's business, not this test's)
    end = next(
        e.seq for e, after in itertools.pairwise(log) if e.seq >= 22 and after.tx_seq == after.seq
    )
    overlap = await send(cluster, body(log[15:end], prev_seq=15))
    assert (overlap.status, overlap.durable_seq) == ("ok", end)

    # A gap: the replica answers where its log ends; the sender resends from there.
    gapped = await send(cluster, body(log[end + 3 :], prev_seq=end + 3))
    assert (gapped.status, gapped.durable_seq) == ("gap", end)
    resent = await send(cluster, body(log[gapped.durable_seq :], prev_seq=gapped.durable_seq))
    assert (resent.status, resent.durable_seq, resent.applied_seq) == ("ok", len(log), len(log))
    assert rest  # the tail arrived through the resend
    assert b.digest() == cluster["site-a"].digest()


async def test_a_transaction_split_over_batches_is_applied_whole(cluster: Cluster) -> None:
    a, b = cluster["site-a"], cluster["site-b"]
    await cluster.create_tenant("site-a")
    await commit(a, write_audit(count=40))  # one transaction of many entries
    with reading(a.db.engine) as connection:
        log = read_range(connection, SENDAI, 1)
    big = [e for e in log if e.tx_seq == log[-1].tx_seq]
    start = big[0].seq - 1
    assert len(big) > 40
    head = await send(cluster, body(log[:start], prev_seq=0))
    assert head.applied_seq == start

    part = await send(cluster, body(log[start : start + 30], prev_seq=start, complete=False))
    assert (part.durable_seq, part.applied_seq) == (start + 30, start)  # logged, not applied
    assert b.digest() != a.digest()
    end = await send(cluster, body(log[start + 30 :], prev_seq=start + 30))
    assert (end.durable_seq, end.applied_seq) == (len(log), len(log))
    assert b.digest() == a.digest()


async def test_a_different_entry_at_a_held_seq_is_divergence(cluster: Cluster) -> None:
    log = await primary_log(cluster)
    assert (await send(cluster, body(log[:10], prev_seq=0))).status == "ok"
    other = [LogEntry(e.seq, 7, e.tx_seq, e.table, e.op, e.pk, e.row, e.at) for e in log[5:12]]
    answer = await send(cluster, body(other, prev_seq=5, epoch=7))
    assert answer.status == "diverged"
    assert answer.durable_seq == 10 and "seq 6" in (answer.detail or "")
    assert cluster["site-b"].state().sealed_epoch == 0  # a refused batch changes nothing


async def test_an_entry_that_cannot_be_applied_is_quarantined(cluster: Cluster) -> None:
    log = await primary_log(cluster)
    bad = LogEntry(
        len(log) + 1, 0, len(log) + 1, "no_such_table", "insert", {"id": 1}, {"id": 1}, log[-1].at
    )
    assert (await send(cluster, body(log, prev_seq=0))).status == "ok"
    answer = await send(cluster, body([bad], prev_seq=len(log)))
    assert answer.status == "apply-failed"
    assert answer.durable_seq == len(log)  # nothing of the batch was kept
    b = cluster["site-b"]
    assert b.state().stalled and "no_such_table" in b.state().stalled
    quarantined = await cluster.client("site-a").quarantine("site-b", SENDAI)
    assert [(q.seq, q.reason_code, q.table) for q in quarantined] == [
        (len(log) + 1, "apply-failed", "no_such_table")
    ]


async def test_an_idle_heartbeat_is_answered_while_the_write_lock_is_held(
    cluster: Cluster,
) -> None:
    """An empty batch that changes nothing is answered from a read: with a thousand idle
    tenants, heartbeats must not queue for the write lock ahead of a failover's seals.
    One that does change the copy (a newer epoch) waits for the lock and is saved."""
    log = await primary_log(cluster)
    assert (await send(cluster, body(log, prev_seq=0))).status == "ok"
    b = cluster["site-b"]
    with applying(b.db, SENDAI) as (_session, connection):
        read(connection, SENDAI, lock=True)  # what every batch that writes takes first
        idle = await asyncio.wait_for(send(cluster, body([], prev_seq=len(log))), 5)
        assert (idle.status, idle.durable_seq, idle.applied_seq) == ("ok", len(log), len(log))
        behind = await asyncio.wait_for(send(cluster, body([], prev_seq=len(log) + 5)), 5)
        assert (behind.status, behind.durable_seq) == ("gap", len(log))

        newer = asyncio.create_task(send(cluster, body([], prev_seq=len(log), epoch=3)))
        await asyncio.sleep(0.5)
        assert not newer.done()  # it must be saved: it waits for the lock
    answer = await asyncio.wait_for(newer, 10)
    assert (answer.status, answer.sealed_epoch) == ("ok", 3)
    assert b.state().sealed_epoch == 3
    stale = await asyncio.wait_for(send(cluster, body([], prev_seq=len(log), epoch=1)), 5)
    assert stale.status == "fenced"
