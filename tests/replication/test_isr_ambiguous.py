"""An in-sync-set expansion whose call failed may still have been applied (issue 11,
hole 7): the coordination service took the write and its answer was lost. Until a newer
placement says otherwise, the primary counts the replica as a member — etcd may list it,
and the controller would then promote it — so no write is acknowledged without it."""

from __future__ import annotations

import pytest

from tests.replication.harness import SENDAI, Cluster, add_user, commit, write_audit
from yui.errors import Unavailable

pytestmark = pytest.mark.anyio


async def test_an_expansion_applied_but_unanswered_still_requires_the_replica(
    cluster: Cluster,
) -> None:
    placements = cluster.placements
    cluster.place("site-a", ("site-b", "site-c"), in_sync=("site-b",))
    # c catches up and joins: the CAS is applied, then etcd becomes unreachable before
    # the answer (and the view's watch with it).
    placements.apply_then_fail = True
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    await commit(a, write_audit(count=2))
    await cluster.wait_for(lambda: placements.unreachable, what="c's expansion to be applied")
    assert [call[0] for call in placements.calls] == ["expand"]
    cluster.router.down.add("site-c")
    stored = placements._placements[SENDAI]
    assert "site-c" in stored.in_sync  # what etcd says now
    assert "site-c" not in (placements.placement(SENDAI) or stored).in_sync  # the view

    # c, which etcd lists as in sync, holds nothing of this write: not acknowledged (a
    # 503: the shrink that would settle it cannot reach etcd either).
    with pytest.raises(Unavailable):
        await commit(a, add_user("without-c"))

    # etcd answers again: the view lists c, which catches up; writes are acknowledged.
    placements.reachable_again()
    cluster.router.down.discard("site-c")
    await commit(a, add_user("with-c"))
    await cluster.caught_up("site-b", "site-c")
