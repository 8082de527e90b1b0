"""Many writers of one tenant at once: every committing thread stages its new entries
for the streams while it still holds its own connection. Staging used to borrow a
second connection from the same pool, so once every connection was held by such a
committer they all waited on each other for the pool's 30 s timeout — the site froze,
lost its lease, and was failed over (seen in the drill tests)."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from replication.primary.tenant import NotEnoughInSync
from tests.replication.harness import SENDAI, Cluster, commit, write_audit

pytestmark = pytest.mark.anyio

WRITERS = 40  # more than the main pool's 15 connections


async def test_more_concurrent_writers_than_connections_do_not_stall(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    before = a.state().head
    await commit(a, write_audit())
    head = a.state().head
    per_write = head - before  # log entries one audited write makes

    limiter = anyio.CapacityLimiter(WRITERS)
    started = time.monotonic()

    async def one() -> None:
        await anyio.to_thread.run_sync(write_audit(), a.db, limiter=limiter)

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(WRITERS))), 60)
    elapsed = time.monotonic() - started
    # a pool deadlock lasts the pool's timeout (30 s); 40 small commits take well under 1 s
    assert elapsed < 15, f"{WRITERS} concurrent commits took {elapsed:.1f} s"
    assert a.state().head == head + per_write * WRITERS
    await cluster.caught_up("site-b")
    assert a.digest() == cluster["site-b"].digest()


async def test_a_new_primary_stages_only_the_entries_it_logs(cluster: Cluster) -> None:
    """A promoted copy's first commits stage their own entries, not the log before the
    takeover. Each of them used to read the tenant's whole log back (up to 2,000
    entries) into the empty outbox, every concurrent committer at once: the new
    primary's first acknowledgements waited seconds after a site kill."""
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    await commit(a, write_audit(count=200))
    await cluster.caught_up("site-b")
    head_at_takeover = b.state().head

    cluster.place("site-b", ("site-a",))
    await cluster.wait_for(lambda: SENDAI in b.node.primaries, what="b to take over")
    for _ in range(40):  # as a client retries 503 not-enough-in-sync while a turns replica
        try:
            await commit(b, write_audit(count=3))
            break
        except NotEnoughInSync:
            await asyncio.sleep(0.25)
    head = b.state().head
    assert head > head_at_takeover

    outbox = b.node.primaries[SENDAI].outbox
    assert outbox.take(head_at_takeover, 1) is None, "the log before the takeover was staged"
    staged = outbox.take(head_at_takeover + 1, 10_000)
    assert staged is not None
    assert [entry.seq for entry in staged[0]] == list(range(head_at_takeover + 1, head + 1))
    await cluster.caught_up("site-a")
    assert a.digest() == b.digest()
