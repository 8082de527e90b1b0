"""Supplies survive the primary's loss. A request between municipalities: Sendai's
message and its delivery job, committed at its primary (site-a), are at its replicas;
site-a is lost before the job ran; the new primary (site-b) runs it and delivers, signed
with its own key, to Chiyoda's primary (site-c), whose copy reaches Chiyoda's replica too.
A shipment in the middle of its way: dispatched at site-a (acknowledged), the primary
lost before it arrived; the new primary's ledger holds the dispatch whole and the shelter
receives it there (a discrepancy included), every copy's balances equal to its ledger.
Real replication between three in-process sites (tests/replication/harness.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import select

from supplies.access import Reach
from supplies.catalogue import service as catalogue
from supplies.exchange import service as exchange
from supplies.exchange.courier import HttpCourier
from supplies.exchange.job import delivery_kind
from supplies.exchange.models import ExchangeMessage
from supplies.places import service as places
from supplies.places.schemas import PlaceIn
from supplies.requests import service as requests
from supplies.requests.models import Request, Status
from supplies.requests.schemas import CommitIn, LineIn, RequestIn
from supplies.shipments import service as shipments
from supplies.shipments.models import DiscrepancyKind, Shipment, ShipmentLine
from supplies.shipments.schemas import DiscrepancyIn, DispatchIn, ReceiptIn, ReceiptLineIn
from supplies.stock import schemas as stock_in
from supplies.stock import service as stock
from supplies.stock.models import MovementLine, StockBalance
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


EVERYWHERE = Reach(everywhere=True, places=frozenset())


def _stock_and_a_committed_request(db: Database) -> None:
    """A depot with 100 bottles, an open shelter, its request for 60 approved and
    committed: what staff do before the truck leaves."""
    with db.unit_of_work(SENDAI) as uow:
        session = uow.session
        places.add(session, PlaceIn(code="D-01", kind="stockpile", name="備蓄倉庫"), actor="t")
        places.add(session, PlaceIn(code="S-01", kind="shelter", name="一番町小学校"), actor="t")
        places.open_shelter(session, "S-01", EVERYWHERE, actor="t")
        line = stock_in.ReceiptLineIn(item="water-2l", quantity=100, expires_on=date(2031, 3, 31))
        stock.receive(
            session, stock_in.ReceiptIn(place="D-01", lines=[line]), EVERYWHERE, actor="t"
        )
        asked = RequestIn(shelter="S-01", lines=[LineIn(item="water-2l", quantity=60)], submit=True)
        request = requests.create(session, asked, EVERYWHERE, actor="shelter1").request
        requests.transition(session, request, Status.APPROVED, actor="staff1")
        commitment = CommitIn(requests=[request.id], accept_suggestion=True)
        requests.commit(session, commitment, EVERYWHERE, actor="staff1")
        uow.commit()


def _stock_committed_and_dispatched(shipped: dict[str, str]) -> Callable[[Database], None]:
    """The staff's steps, then the depot's dispatch (its own unit of work): one wait for
    the replicas after both (each wait is a chance for a loaded machine's replica to
    fall out of the in-sync set)."""

    def work(db: Database) -> None:
        _stock_and_a_committed_request(db)
        with db.unit_of_work(SENDAI) as uow:
            (request,) = uow.session.execute(select(Request)).scalars()
            body = DispatchIn(from_place="D-01", vehicle="宮城 100 さ 12-34", driver="山田")
            shipment = shipments.dispatch(uow.session, request.id, body, EVERYWHERE, actor="d1")
            shipped.update(id=shipment.id, movement=shipment.movement_id or "")
            uow.commit()

    return work


def _receive(shipment_id: str) -> Callable[[Database], None]:
    """58 of the 60 arrive, two damaged on the road."""

    def work(db: Database) -> None:
        with db.unit_of_work(SENDAI) as uow:
            (line,) = uow.session.execute(select(ShipmentLine)).scalars()
            damaged = DiscrepancyIn(kind=DiscrepancyKind.DAMAGED, note="2 本破損")
            body = ReceiptIn(lines=[ReceiptLineIn(line=line.id, received=58, discrepancy=damaged)])
            shipments.receive(uow.session, shipment_id, body, EVERYWHERE, actor="shelter1")
            uow.commit()

    return work


def _shipment_survived(db: Database, shipped: dict[str, str], *, received: bool) -> None:
    """The dispatch's movement whole (60 out of the depot, 60 into the shelter), the
    shipment and its request in the state they reached, balances equal to the ledger."""
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        session = uow.session
        shipment = session.get(Shipment, shipped["id"])
        assert shipment is not None and shipment.movement_id == shipped["movement"]
        moved = session.execute(
            select(MovementLine.quantity).where(MovementLine.movement_id == shipped["movement"])
        ).scalars()
        assert sorted(moved) == [Decimal(-60), Decimal(60)]
        (request,) = session.execute(select(Request)).scalars()
        expected = ("received", "received") if received else ("dispatched", "shipped")
        assert (shipment.status, request.status) == expected
        held = {
            place.code: sum(
                session.execute(
                    select(StockBalance.quantity).where(StockBalance.place_id == place.id)
                ).scalars(),
                Decimal(0),
            )
            for place in places.listed(session, EVERYWHERE)
        }
        assert held == {"D-01": 40, "S-01": 58 if received else 60}
        count, mismatches = stock.verify_balances(session)
        assert count and not mismatches


def _seed(tenant: str) -> Callable[[Database], None]:
    def work(db: Database) -> None:
        with db.unit_of_work(tenant) as uow:
            catalogue.seed(uow.session, actor="test")
            uow.commit()

    return work


async def test_a_message_and_a_shipment_survive_the_senders_failover(three_sites: Cluster) -> None:
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
    # a shipment leaves Sendai's depot: acknowledged, then its primary is lost on the way
    shipped: dict[str, str] = {}
    await commit(a, _stock_committed_and_dispatched(shipped))
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

    # the shipment: whole at the new primary, received there, and so at its replica
    _shipment_survived(b.db, shipped, received=False)
    await commit(b, _receive(shipped["id"]))
    await cluster.caught_up("site-c")
    for site in (b, c):
        _shipment_survived(site.db, shipped, received=True)
