"""The same step sent at once from several desks (a double click, a resend after a
timeout, two staff on one queue), on SQLite and PostgreSQL: a commitment never holds more
than a lot has, a request is dispatched once, a shipment received once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from supplies.requests.models import Allocation
from supplies.shipments.models import Discrepancy, Shipment
from supplies.stock.models import Movement
from tests.supplies.supply_office import SupplyOffice

TIMES = 6


def _at_once(call: Callable[[], Any]) -> Counter[int]:
    with ThreadPoolExecutor(max_workers=TIMES) as pool:
        answers = list(pool.map(lambda _: call(), range(TIMES)))
    return Counter(answer.status_code for answer in answers)


def _count(s: SupplyOffice, table: Any, *where: Any) -> int:
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        count: int = uow.session.execute(
            select(func.count()).select_from(table).where(*where)
        ).scalar_one()
        return count


def at_the_same_time(s: SupplyOffice) -> None:
    """Run by tests/supplies/requests/test_requests.py in its office."""
    tarp = {
        "code": "tarp",
        "name_ja": "ブルーシート",
        "name_en": "Tarpaulin",
        "category": "other",
        "unit_ja": "枚",
        "unit_en": "sheet",
    }
    s.ok(s.post("/items", tarp), 201)
    # six desks hand out 5 sheets each from the same lot at once (first expired first
    # out picks it): each movement moves the balance it found locked, none is lost
    s.ok(s.receive("D-02", {"item": "tarp", "quantity": 5 * TIMES}), 201)
    issue = {"place": "D-02", "lines": [{"item": "tarp", "quantity": 5}]}
    assert _at_once(lambda: s.post("/stock/issues", issue)) == Counter({201: TIMES})
    assert s.stock("D-02", "tarp") == 0
    assert s.ok(s.get("/stock/check"))["ok"]

    s.ok(s.receive("D-01", {"item": "tarp", "quantity": 10}), 201)
    asked = []
    for _ in range(TIMES):
        made = s.ok(
            s.post(
                "/requests",
                {"shelter": "S-01", "lines": [{"item": "tarp", "quantity": 10}], "submit": True},
            ),
            201,
        )
        s.ok(s.post(f"/requests/{made['id']}/approve", {}))
        asked.append(made["id"])

    # each desk commits its own request as suggested, all at once: the ten sheets there
    # are (at D-01) are held once
    pending = iter(asked)

    def commit() -> Any:
        return s.post(
            "/allocation/commit", {"requests": [next(pending)], "accept_suggestion": True}
        )

    _at_once(commit)
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        held = uow.session.execute(
            select(func.sum(Allocation.quantity)).where(Allocation.request_id.in_(asked))
        ).scalar_one()
    assert held == 10, held
    (holder,) = [
        rid for rid in asked if s.ok(s.get(f"/requests/{rid}"))["lines"][0]["committed"] == 10
    ]

    # the depot's dispatch pressed six times: one shipment, one movement
    shipped = _at_once(lambda: s.post(f"/requests/{holder}/shipments", {"from_place": "D-01"}))
    assert shipped[201] == 1, shipped
    assert _count(s, Shipment, Shipment.request_id == holder) == 1
    (shipment,) = s.ok(s.get(f"/requests/{holder}/shipments"))
    assert _count(s, Movement, Movement.reference == f"shipment:{shipment['id']}") == 1
    assert s.stock("D-01", "tarp") == 0 and s.stock("S-01", "tarp") == 10

    # its receipt (9 of 10, one short) sent six times: received once, one adjustment
    body = {
        "lines": [
            {"line": shipment["lines"][0]["id"], "received": 9, "discrepancy": {"kind": "short"}}
        ]
    }
    received = _at_once(lambda: s.post(f"/shipments/{shipment['id']}/receipt", body))
    assert received[200] == 1, received
    assert _count(s, Discrepancy, Discrepancy.shipment_id == shipment["id"]) == 1
    assert s.stock("S-01", "tarp") == 9
    done = s.ok(s.get(f"/requests/{holder}"))
    assert (done["status"], done["lines"][0]["received"]) == ("received", 9)
