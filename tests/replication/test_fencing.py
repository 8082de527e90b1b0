"""Seals fence a deposed primary: its batches are refused and their entries kept in
quarantine (paged and resolved from another site, as the operators' console does), it can
no longer acknowledge a write, and a promotion continues the log."""

from __future__ import annotations

import pytest

from replication.primary.tenant import Deposed, NotReplicated
from replication.protocol.client import PeerError
from tests.replication.harness import SENDAI, Cluster, add_user, commit, write_audit

pytestmark = pytest.mark.anyio


async def test_old_epoch_refused_after_seal_and_quarantined(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    await commit(a, write_audit(count=3))
    held = b.state().head
    a_epoch = a.node.primaries[SENDAI].write_epoch

    # The controller promotes elsewhere: it seals b above every epoch so far.
    seal = await cluster.client("site-c").seal("site-b", SENDAI, 50)
    assert (seal.sealed_epoch, seal.durable_seq) == (50, held)

    # a (its old epoch) still believes it is the primary: its next write cannot be acknowledged.
    with pytest.raises((NotReplicated, Deposed)):
        await commit(a, add_user("late"))
    assert b.state().head == held  # nothing of the old epoch got in

    await cluster.wait_for(lambda: b.quarantined() > 0, what="the refused entries in quarantine")
    quarantined = await cluster.client("site-c").quarantine("site-b", SENDAI)
    assert quarantined and {q.reason_code for q in quarantined} == {"fenced"}
    assert all(
        q.seq > held and q.epoch == a_epoch < 50 and q.source_site == "site-a" for q in quarantined
    )
    assert "seal" in quarantined[0].reason
    assert {q.table for q in quarantined} >= {"staff_users"}

    # Another site (the operators' console) pages b's quarantine and resolves an entry
    # there, by the same operation as `yui replication quarantine resolve` at b: once.
    console = cluster.client("site-c")
    first = await console.quarantine("site-b", SENDAI, offset=0, limit=1)
    rest = await console.quarantine("site-b", SENDAI, offset=1, limit=500)
    assert [q.id for q in first + rest] == [q.id for q in quarantined] and len(first) == 1
    done = await console.resolve_quarantined("site-b", SENDAI, first[0].id, "運用 太郎", "照合済み")
    assert (done.id, done.resolved_by, done.resolution) == (first[0].id, "運用 太郎", "照合済み")
    assert [q.id for q in await console.quarantine("site-b", SENDAI)] == [q.id for q in rest]
    for entry_id, status in ((first[0].id, 409), (10**9, 404)):
        with pytest.raises(PeerError) as refused:
            await console.resolve_quarantined("site-b", SENDAI, entry_id, "運用 太郎", "再度")
        assert refused.value.status == status

    # Fenced: further writes are refused before their commit (503), not silently taken.
    with pytest.raises(Deposed):
        a.node.write_gate(SENDAI)


async def test_promotion_continues_the_log_in_the_new_epoch(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    await commit(a, write_audit(count=5))
    await cluster.caught_up("site-b", "site-c")
    cluster.router.down.add("site-a")  # the primary is lost

    controller = cluster.client("site-c")
    epoch = cluster.placements.revision + 1
    for replica in ("site-b", "site-c"):
        await controller.seal(replica, SENDAI, epoch)
    placement = cluster.place("site-b", ("site-c", "site-a"), in_sync=("site-c",))
    assert placement.epoch >= epoch
    await cluster.wait_for(lambda: b.state().role == "primary", what="b to take over")
    assert b.state().write_epoch == placement.epoch

    await commit(b, add_user("after-failover"))
    await cluster.caught_up("site-c")
    assert b.digest() == c.digest()
    assert c.state().epochs[-1] == [placement.epoch, b.state().head]
    assert c.state().sealed_epoch == placement.epoch


async def test_a_fenced_primary_named_again_above_the_seal_writes_again(cluster: Cluster) -> None:
    """A promotion sealed the replicas and then promoted nobody; later the placement was
    rewritten still naming the old primary, at an epoch above the seal (the soak: the
    controller's repair added a replica). The primary was fenced for good: nothing but a
    promote call restarts a fenced primary. Now it takes the tenant again at the new
    epoch by itself, as the placement it watches says, and its replicas take its writes."""
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    await commit(a, write_audit(count=3))
    await cluster.caught_up("site-b", "site-c")

    controller = cluster.client("site-c")
    seal = cluster.placements.revision + 1
    for replica in ("site-b", "site-c"):
        await controller.seal(replica, SENDAI, seal)
    with pytest.raises((NotReplicated, Deposed)):
        await commit(a, add_user("refused"))
    with pytest.raises(Deposed):
        a.node.write_gate(SENDAI)

    cluster.place("site-a", ("site-b", "site-c"))
    placement = cluster.place("site-a", ("site-b", "site-c"))
    assert placement.epoch > seal
    await cluster.wait_for(
        lambda: a.state().write_epoch == placement.epoch, what="a to write in the new epoch"
    )
    await commit(a, add_user("after-the-seal"))
    await cluster.caught_up("site-b", "site-c")
    assert a.digest() == b.digest() == c.digest()


async def test_a_primary_fenced_by_a_seal_at_its_own_placements_epoch_writes_again(
    cluster: Cluster,
) -> None:
    """The soak's stalled tenant: a promotion read the placement at R, sealed a replica at
    R + 1 and then could not write (its controller cut off from etcd). Meanwhile the
    primary's own in-sync change landed at revision R + 1, the seal's very epoch. The
    seal is not above that placement, so nothing lifted it; the replica refused the
    primary's old epoch, the primary fenced itself under the placement at R + 1 and was
    never named at a newer one. No promotion can now use that seal (its compare-and-swap
    expects revision R), so the primary takes the tenant again at the placement's epoch."""
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    await commit(a, write_audit(count=3))
    await cluster.caught_up("site-b", "site-c")
    old_epoch = a.node.primaries[SENDAI].write_epoch

    seal = cluster.placements.revision + 1
    await cluster.client("site-b").seal("site-c", SENDAI, seal)
    # The primary's in-sync change (c dropped) lands at the seal's revision.
    placement = cluster.place("site-a", ("site-b", "site-c"), in_sync=("site-b",))
    assert placement.epoch == seal > old_epoch
    await cluster.wait_for(
        lambda: (p := a.node.placements.placement(SENDAI)) is not None and p.epoch == seal,
        what="a to see the placement at the seal's epoch",
    )
    # c refuses a's old epoch: a fences itself, under the placement at the seal's epoch.
    primary = a.node.primaries[SENDAI]
    primary.logged(primary.head)  # its stream to c wakes and is refused
    await cluster.wait_for(lambda: primary.fenced is not None, what="a to be fenced")

    await cluster.wait_for(
        lambda: a.state().write_epoch == seal, what="a to take the tenant again at the seal's epoch"
    )
    await commit(a, add_user("after-the-seal"))
    await cluster.caught_up("site-b", "site-c")
    assert a.digest() == b.digest() == c.digest()
