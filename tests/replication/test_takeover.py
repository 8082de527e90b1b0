"""Between a placement's compare-and-swap and the new primary's takeover, a write at
the new primary is refused (503 "taking over", Retry-After) and leaves nothing behind;
once the takeover is done the retried write commits in the new epoch.

Found by the 30-run soak: such a write used to commit at epoch 0, the takeover cut its
log entry off as an incomplete tail while its rows stayed, and the copies diverged."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from replication.primary.tenant import Deposed, TakingOver
from tests.replication.harness import SENDAI, Cluster, commit, write_audit

pytestmark = pytest.mark.anyio


async def test_a_write_before_the_takeover_gets_a_503_and_changes_nothing(
    cluster: Cluster,
) -> None:
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    await commit(a, write_audit(count=2))
    await cluster.caught_up("site-b")
    head_before, digest_before = b.state().head, b.digest()

    # The controller moves the tenant to b; b's takeover is slow (its reconcile is held).
    async with b.node.primaries._reconciling:
        cluster.place("site-b", ("site-a",))
        assert SENDAI not in b.node.primaries

        with pytest.raises(TakingOver):
            write_audit()(b.db)
        http = httpx.AsyncClient(transport=cluster.router, base_url="http://site-b")
        refused = await http.post(f"/test/{SENDAI}/audit")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"].endswith("/taking-over")
        assert "retry" in refused.json()["detail"]
        assert (b.state().head, b.digest()) == (head_before, digest_before)

    # The takeover finishes: the client's retry commits, in b's new epoch, everywhere.
    await cluster.wait_for(lambda: SENDAI in b.node.primaries, what="b to take over")
    # The client retries as a retryable 503 asks: a is still turning into b's replica, and
    # on a busy machine it may not hold b's first entries within the ack timeout (then the
    # answer is 503 not-enough-in-sync, and nothing is acknowledged that a lacks).
    for _ in range(40):
        accepted = await http.post(f"/test/{SENDAI}/audit")
        if accepted.status_code != 503:
            break
        assert accepted.json()["type"].endswith("/not-enough-in-sync"), accepted.text
        await asyncio.sleep(0.5)
    assert accepted.status_code == 200, accepted.text
    await http.aclose()
    await cluster.caught_up("site-a")
    assert b.state().head > head_before
    assert b.node.primaries[SENDAI].write_epoch > 0
    assert a.digest() == b.digest()


async def test_a_write_whose_primary_is_deposed_before_its_wait_is_not_acknowledged(
    cluster: Cluster,
) -> None:
    """Found by the 100-run soak: the request committed at the old primary, the new
    placement stopped that primary, and the answer's wait found no primary and let the
    201 through — the write was then missing at the new primary."""
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    committed = await commit(a, write_audit(), wait=False)

    cluster.place("site-b", ("site-a",))  # the controller moved the tenant meanwhile
    await cluster.wait_for(lambda: SENDAI not in a.node.primaries, what="a to stop its primary")
    with pytest.raises(Deposed):
        await a.node.wait_replicated(committed)
