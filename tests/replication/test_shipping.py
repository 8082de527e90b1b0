"""Shipping and applying: every write reaches every replica, in order, and the copies
hold the same rows (equal digests)."""

from __future__ import annotations

import pytest

from replication.verify.copies import verify_tenant
from tests.replication.harness import (
    SENDAI,
    Cluster,
    add_user,
    commit,
    delete_user,
    rename_user,
    write_audit,
)

pytestmark = pytest.mark.anyio


async def test_writes_reach_every_replica_and_digests_match(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]

    await commit(a, add_user("sato"))
    await commit(a, add_user("suzuki"))
    await commit(a, rename_user("sato", "佐藤 花子"))
    await commit(a, write_audit(count=25))
    committed = await commit(a, delete_user("suzuki"))
    (_, last), *_ = committed

    # Sync mode: once the write is acknowledged, every in-sync replica holds it.
    assert b.state().head >= last and c.state().head >= last
    await cluster.caught_up("site-b", "site-c")
    assert a.digest() == b.digest() == c.digest()
    assert b.state().role == "replica" and b.state().source_site == "site-a"

    report = await verify_tenant(cluster.client("site-a"), SENDAI, "site-a", ["site-b", "site-c"])
    assert report.ok, report.differences
    assert report.seq == a.state().head
    assert {copy.digest.digest for copy in report.copies if copy.digest} == {a.digest()}
