"""A copy never acts as a lone site (issue 11, hole 1).

A node that starts without reaching etcd knows no placement. A site that holds a copy
of the tenant (a replication state row) must then refuse the tenant's writes (503
"placement unknown") and acknowledge none, however the write reached it; a copy whose
role is replica refuses a local write at capture whatever the view says; and catch-up
compares the epochs of the entries a log really holds, so a copy that logged a write of
its own is bootstrapped (its write quarantined) instead of skipping the primary's
entries at the same seqs as duplicates.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from replication.primary.tenant import PlacementUnknown
from replication.sql import reading
from tests.replication.harness import SENDAI, Cluster, Site, add_user, commit, write_audit
from yui.changelog.capture import ReplicaLog
from yui.changelog.models import LogHead

pytestmark = pytest.mark.anyio


async def _placed_and_caught_up(cluster: Cluster) -> tuple[Site, Site]:
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    await commit(a, write_audit(count=2))
    await cluster.caught_up("site-b")
    return a, b


async def test_a_replica_copy_refuses_a_local_write_whatever_the_gate_says(
    cluster: Cluster,
) -> None:
    """The harness wires no cluster gate (no "not primary" from the view): capture alone
    must keep the replica's log the primary's."""
    a, b = await _placed_and_caught_up(cluster)
    head, digest = b.state().head, b.digest()

    with pytest.raises(ReplicaLog) as refused:
        add_user("at-the-replica")(b.db)
    assert refused.value.status == 503 and refused.value.extra["retry_after"] == 1
    assert "replica" in refused.value.detail and "レプリカ" in refused.value.detail
    assert (b.state().head, b.digest()) == (head, digest)

    # The primary still writes, and the replica still takes what it ships.
    await commit(a, add_user("at-the-primary"))
    await cluster.caught_up("site-b")
    assert a.digest() == b.digest()


async def test_a_copy_whose_placement_is_unknown_takes_and_acknowledges_no_write(
    cluster: Cluster,
) -> None:
    a, b = await _placed_and_caught_up(cluster)
    heads = a.state().head, b.state().head

    # As on a node started while etcd is unreachable: no placement in the view.
    cluster.placements.forget(SENDAI)
    await cluster.wait_for(lambda: SENDAI not in a.node.primaries, what="a's primary to stop")

    for site in (a, b):  # the old primary (role primary) and the replica alike
        with pytest.raises(PlacementUnknown):
            add_user(f"blind-{site.name}")(site.db)
        http = httpx.AsyncClient(transport=cluster.router, base_url=f"http://{site.name}")
        answer = await http.post(f"/test/{SENDAI}/audit")
        await http.aclose()
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "1"
        problem = answer.json()
        assert problem["type"].endswith("/placement-unknown")
        assert "配置" in problem["title"] and "Placement" in problem["title"]
        assert "nothing was written" in problem["detail"]
    assert (a.state().head, b.state().head) == heads

    # A commit that got past the gate (before the view was lost) is not acknowledged.
    with pytest.raises(PlacementUnknown):
        await a.node.wait_replicated([(SENDAI, heads[0])])

    # The view answers again: the primary writes, the replica follows.
    cluster.place("site-a", ("site-b",))
    await commit(a, add_user("after"))
    await cluster.caught_up("site-b")
    assert a.digest() == b.digest()


async def test_a_tenant_without_a_copy_here_is_still_served_as_a_lone_site(
    cluster: Cluster,
) -> None:
    """No placement and no replication state: a lone site's tenant, as before."""
    a = cluster["site-a"]
    await cluster.create_tenant("site-a")
    await commit(a, add_user("lone"))
    assert a.state().head > 0


async def test_catch_up_does_not_skip_the_primarys_entries_at_seqs_a_copy_wrote_itself(
    cluster: Cluster,
) -> None:
    """A copy that logged a write of its own (here: its capture guard switched off, as a
    copy written before the guard existed) holds entries at seqs the primary then writes
    differently. The epoch history still names the primary's epoch there: comparing it
    alone, the replica skipped the primary's entries as duplicates and kept other rows."""
    cluster.place("site-a", ("site-b",), in_sync=(), min_insync=0)
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    await commit(a, write_audit(count=2))
    await cluster.caught_up("site-b")

    cluster.router.down.add("site-b")
    with reading(b.db.engine) as connection:
        connection.execute(update(LogHead).where(LogHead.tenant_id == SENDAI).values(replica=False))
        connection.commit()
    add_user("written-at-the-replica")(b.db)
    await commit(a, add_user("written-at-the-primary"))
    assert a.state().head == b.state().head  # the same seqs, different entries

    cluster.router.down.discard("site-b")
    await cluster.wait_for(lambda: b.quarantined() > 0, what="b's own write in quarantine")
    await cluster.caught_up("site-b")
    assert a.digest() == b.digest()
