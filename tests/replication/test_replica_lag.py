"""A replica knows how far its copy lags its primary, in memory, for the gateway's
`X-Yui-Replica-Lag-*` headers on reads it serves (issue 11: they were never produced)."""

from __future__ import annotations

import asyncio

import pytest

from tests.replication.harness import SENDAI, Cluster, commit, write_audit

pytestmark = pytest.mark.anyio


async def test_a_replica_states_its_lag_and_a_copy_written_here_states_none(
    cluster: Cluster,
) -> None:
    cluster.place("site-a", ("site-b",), mode="async")  # async: writes go on without b
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    lag = b.node.receiver.lag
    await commit(a, write_audit(count=3))
    await cluster.caught_up("site-b")
    await cluster.wait_for(lambda: lag.lag(SENDAI, "site-a") is not None, what="b's lag known")
    entries, seconds = lag.lag(SENDAI, "site-a") or (None, None)
    assert entries == 0 and seconds is not None and seconds < 2.0
    assert lag.lag(SENDAI, "site-c") is None  # behind another primary: not known
    assert cluster["site-c"].node.receiver.lag.lag(SENDAI, "site-a") is None  # no copy

    cluster.router.isolated.add("site-b")  # b hears nothing; a keeps writing
    await commit(a, write_audit(count=5))
    await asyncio.sleep(1.5)
    entries, seconds = lag.lag(SENDAI, "site-a") or (None, None)
    assert seconds is not None and seconds >= 1.5  # every write older than this is in b

    cluster.router.isolated.discard("site-b")
    await cluster.caught_up("site-b")
    await cluster.wait_for(
        lambda: (lag.lag(SENDAI, "site-a") or (1, 99.0))[1] < 1.0, what="b current again"
    )

    # b becomes the primary: its copy is no replica's any more (a jobs worker, another
    # process, may write there), even before this process writes anything.
    cluster.place("site-b", ("site-a",), mode="async")
    await cluster.wait_for(lambda: SENDAI in b.node.primaries, what="b to take over")
    assert lag.lag(SENDAI, "site-a") is None
    await commit(b, write_audit())
    assert lag.lag(SENDAI, "site-a") is None
