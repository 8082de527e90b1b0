"""A request between municipalities survives the sender's failover: Sendai's message and
its delivery job, committed at its primary (site-a), are at its replicas; site-a is
lost before the job ran; the new primary (site-b) runs it and delivers, signed with its
own key, to Chiyoda's primary (site-c), whose copy reaches Chiyoda's replica too. Real
replication between three in-process sites (tests/replication/harness.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import select

from supplies.catalogue import service as catalogue
from supplies.exchange import service as exchange
from supplies.exchange.courier import HttpCourier
from supplies.exchange.job import delivery_kind
from supplies.exchange.models import ExchangeMessage
from supplies.requests.models import Request
from tests.replication.harness import SENDAI, Cluster, commit
from tests.support.factories import CHIYODA
from yui.db.database import Database
from yui.jobs.kinds import JobKinds
from yui.jobs.runner import run_job

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def three_sites(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Three SQLite sites, once: what this tests is the rows and the job surviving the
    sender's failover (the same rows on PostgreSQL: test_exchange.py, test_requests.py)."""
    names = ("site-a", "site-b", "site-c")
    urls = {name: f"sqlite:///{tmp_path / name}.db" for name in names}
    cluster = Cluster(urls, tmp_path)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


class LoopTransport(httpx.BaseTransport):
    """A blocking transport for the job's thread that sends through the cluster's
    in-process network on the test's event loop."""

    def __init__(self, cluster: Cluster, source: str, loop: asyncio.AbstractEventLoop) -> None:
        self.network = cluster.router.view(source)
        self.loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self.network.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run_coroutine_threadsafe(send(), self.loop).result(timeout=30)


def _seed(tenant: str) -> Callable[[Database], None]:
    def work(db: Database) -> None:
        with db.unit_of_work(tenant) as uow:
            catalogue.seed(uow.session, actor="test")
            uow.commit()

    return work


async def test_a_message_survives_the_senders_failover(three_sites: Cluster) -> None:
    cluster = three_sites
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    cluster.place("site-a", ("site-b", "site-c"))
    cluster.place("site-c", ("site-b",), tenant=CHIYODA)
    await cluster.create_tenant("site-a")
    await cluster.create_tenant("site-c", CHIYODA, "千代田区")
    await commit(a, _seed(SENDAI))
    await commit(c, _seed(CHIYODA), CHIYODA)

    sent: dict[str, str] = {}

    def ask(db: Database) -> None:
        with db.unit_of_work(SENDAI) as uow:
            body = exchange.OutgoingRequestIn(
                to=CHIYODA, lines=[exchange.OutgoingLineIn(item="water-2l", quantity=400)]
            )
            row = exchange.send_request(uow, SENDAI, body, actor="staff1")
            sent.update(id=row.id, job=row.job_id, message=row.message_id)
            uow.commit()

    await commit(a, ask)
    await cluster.caught_up("site-b", "site-c")

    # Sendai's primary is lost before its worker ran the job; site-b takes over
    cluster.router.down.add("site-a")
    controller = cluster.client("site-c")
    epoch = cluster.placements.revision + 1
    for replica in ("site-b", "site-c"):
        await controller.seal(replica, SENDAI, epoch)
    cluster.place("site-b", ("site-c", "site-a"), in_sync=("site-c",))
    await cluster.wait_for(lambda: b.state().role == "primary", what="site-b to take over")

    # the new primary's worker finds the job in its copy and delivers, signed by site-b
    loop = asyncio.get_running_loop()
    http = httpx.Client(transport=LoopTransport(cluster, "site-b", loop), timeout=30)
    kinds = JobKinds()
    kinds.register(delivery_kind(HttpCourier(b.key, http, "http://site-c")))
    outcome = await anyio.to_thread.run_sync(
        lambda: run_job(b.db, kinds, SENDAI, uuid.UUID(sent["job"]), site="site-b")
    )
    assert outcome.state == "done"

    with b.db.unit_of_work(SENDAI, read_only=True) as uow:
        row = uow.session.get(ExchangeMessage, sent["id"])
        assert row is not None and row.delivery == "delivered"
    await cluster.caught_up("site-b", tenant=CHIYODA)
    for site in (c, b):  # Chiyoda's primary, and its replica
        with site.db.unit_of_work(CHIYODA, read_only=True) as uow:
            (received,) = uow.session.execute(select(ExchangeMessage)).scalars()
            assert (received.direction, received.counterpart) == ("in", SENDAI)
            assert received.message_id == sent["message"]
            (request,) = uow.session.execute(select(Request)).scalars()
            assert request.requester_tenant == SENDAI and request.status == "submitted"
    await anyio.to_thread.run_sync(http.close)
