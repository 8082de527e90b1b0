"""Another site's quarantine, as the operators' console reads and resolves it: paged by
the signed endpoint, and an entry resolved there by the same operation as `yui
replication quarantine resolve` run at that site (once: a second time is refused)."""

from __future__ import annotations

import pytest

from replication.primary.tenant import Deposed, NotReplicated
from replication.protocol.client import PeerError
from tests.replication.harness import SENDAI, Cluster, add_user, commit, write_audit

pytestmark = pytest.mark.anyio


async def test_a_sites_quarantine_is_paged_and_resolved_from_another_site(
    cluster: Cluster,
) -> None:
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    await commit(a, write_audit(count=3))
    await cluster.client("site-c").seal("site-b", SENDAI, 50)  # a is deposed
    with pytest.raises((NotReplicated, Deposed)):
        await commit(a, add_user("late"))
    await cluster.wait_for(lambda: b.quarantined() > 0, what="the refused entries in quarantine")

    console = cluster.client("site-c")
    every = await console.quarantine("site-b", SENDAI)
    first = await console.quarantine("site-b", SENDAI, offset=0, limit=1)
    rest = await console.quarantine("site-b", SENDAI, offset=1, limit=500)
    assert [q.id for q in first + rest] == [q.id for q in every]
    assert len(first) == 1

    done = await console.resolve_quarantined("site-b", SENDAI, first[0].id, "運用 太郎", "照合済み")
    assert (done.id, done.resolved_by, done.resolution) == (first[0].id, "運用 太郎", "照合済み")
    assert [q.id for q in await console.quarantine("site-b", SENDAI)] == [q.id for q in rest]
    with pytest.raises(PeerError) as again:
        await console.resolve_quarantined("site-b", SENDAI, first[0].id, "運用 太郎", "二度目")
    assert again.value.status == 409
    with pytest.raises(PeerError) as unknown:
        await console.resolve_quarantined("site-b", SENDAI, 10**9, "運用 太郎", "なし")
    assert unknown.value.status == 404
