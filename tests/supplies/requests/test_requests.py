"""Requests from shelters to receipt: the lifecycle, the allocation suggestion with its
rules, commitments within the stock, shipments through the ledger, partial receipts with
discrepancies; roles (only staff approve; a shelter sees and changes only its own) and
bad input refused with nothing written."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from assembly.cli.main import app as yui
from supplies.edxl.message import parse
from supplies.requests.models import Allocation, Request
from supplies.shipments.models import Discrepancy, DiscrepancyKind, ShipmentLine
from supplies.shipments.service import check_receipt
from supplies.stock.models import Movement, StockBalance
from tests.supplies.exchange.between import between_municipalities
from tests.supplies.requests.client_ids import client_ids
from tests.supplies.requests.concurrency import at_the_same_time
from tests.supplies.supply_office import SupplyOffice
from yui.errors import InvalidInput


def _count(s: SupplyOffice, table: Any) -> int:
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        count: int = uow.session.execute(select(func.count()).select_from(table)).scalar_one()
        return count


def _request(s: SupplyOffice, shelter: str, *lines: dict[str, Any], **fields: Any) -> Any:
    return s.post(
        "/requests", {"shelter": shelter, "lines": list(lines), **fields}, fields.pop("h", None)
    )


def test_requests_shipments_and_between_municipalities(
    supplies: SupplyOffice, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One office for every case (each office costs a migration and five sign-ins),
    and then the exchange between municipalities (tests/supplies/exchange/between.py)."""
    _a_request_from_draft_to_received(supplies)
    _bad_input_cancelling_donations_and_the_cli(supplies, database_url, tmp_path, monkeypatch)
    client_ids(supplies)
    at_the_same_time(supplies)
    between_municipalities(supplies)


def _a_request_from_draft_to_received(supplies: SupplyOffice) -> None:
    s = supplies
    office = s.office
    s.ok(s.receive("D-01", {"item": "water-2l", "quantity": 100, "expires_on": "2030-01-01"}), 201)
    s.ok(s.receive("D-02", {"item": "water-2l", "quantity": 50, "expires_on": "2029-06-01"}), 201)

    # the shelter account drafts for its own shelter, never for another
    mine = s.ok(
        s.post(
            "/requests",
            {
                "shelter": "S-01",
                "lines": [{"item": "water-2l", "quantity": 100, "vulnerable": 20}],
            },
            office.shelter,
        ),
        201,
    )
    assert mine["status"] == "draft" and mine["lines"][0]["requested"] == 100
    other = s.post(
        "/requests",
        {"shelter": "S-02", "lines": [{"item": "water-2l", "quantity": 1}]},
        office.shelter,
    )
    assert other.status_code == 404
    added = s.ok(
        s.post(
            f"/requests/{mine['id']}/lines",
            {"lines": [{"item": "water-2l", "quantity": 20}]},
            office.shelter,
        )
    )
    assert added["lines"][0]["requested"] == 120
    s.ok(s.post(f"/requests/{mine['id']}/submit", {}, office.shelter))
    # staff ask for the welfare shelter: everyone there counts as vulnerable
    welfare = s.ok(
        s.post(
            "/requests",
            {"shelter": "S-02", "lines": [{"item": "water-2l", "quantity": 80}], "submit": True},
        ),
        201,
    )
    assert welfare["status"] == "submitted"

    # the shelter sees only its own request
    seen = s.ok(s.get("/requests", office.shelter))
    assert [r["id"] for r in seen] == [mine["id"]]
    assert s.get(f"/requests/{welfare['id']}", office.shelter).status_code == 404
    # ... and changes none but its own: another shelter's request is the same 404
    url = f"/requests/{welfare['id']}"
    for response in (
        s.post(f"{url}/lines", {"lines": [{"item": "water-2l", "quantity": 1}]}, office.shelter),
        s.post(f"{url}/submit", {}, office.shelter),
        s.post(f"{url}/cancel", {"reason": "不要"}, office.shelter),
        s.get(f"{url}/shipments", office.shelter),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    unchanged = s.ok(s.get(url))
    assert (unchanged["status"], unchanged["lines"][0]["requested"]) == ("submitted", 80)

    # only staff approve
    for headers in (s.depot, office.shelter, office.auditor):
        assert s.post(f"/requests/{mine['id']}/approve", {}, headers).status_code == 403
    for request in (mine, welfare):
        approved = s.ok(s.post(f"/requests/{request['id']}/approve", {}))
        assert approved["status"] == "approved" and approved["approved_by"] == "staff1"

    # 150 in stock for 200 asked: the 100 vulnerable first, the other 50 to the rest
    suggestion = s.ok(s.get("/allocation"))
    by_request = {line["request_id"]: line for line in suggestion}
    assert by_request[welfare["id"]]["allocated"] == 80
    assert by_request[mine["id"]]["allocated"] == 70
    assert {line["rule"] for line in suggestion} == {"vulnerable_first"}
    assert "要配慮者分 100 を先に全量" in by_request[mine["id"]]["explanation"]
    assert "the vulnerable shares (100) first" in by_request[mine["id"]]["explanation"]
    assert s.get("/allocation", office.shelter).status_code == 403

    # bad commitments are refused whole: more than a lot holds, fractions, negatives
    lot_d01 = next(
        pick["lot_id"]
        for line in suggestion
        for pick in line["picks"]
        if pick["place_code"] == "D-01"
    )
    line_id = by_request[mine["id"]]["line_id"]
    movements_before = _count(s, Movement)
    for quantity, status in ((101, 422), (2.5, 422), (-1, 422), (0, 422)):
        refused = s.post(
            "/allocation/commit",
            {
                "requests": [mine["id"]],
                "picks": [{"line": line_id, "lot": lot_d01, "place": "D-01", "quantity": quantity}],
            },
        )
        assert refused.status_code == status, (quantity, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert _count(s, Allocation) == 0 and _count(s, Movement) == movements_before
    assert s.ok(s.get(f"/requests/{mine['id']}"))["status"] == "approved"

    # staff change the suggestion for one request (60 instead of 70) and accept it for the other
    changed = s.ok(
        s.post(
            "/allocation/commit",
            {
                "requests": [mine["id"]],
                "picks": [{"line": line_id, "lot": lot_d01, "place": "D-01", "quantity": 60}],
            },
        )
    )
    assert changed[0]["status"] == "committed"
    assert changed[0]["lines"][0]["committed"] == 60 and changed[0]["lines"][0]["short"] == 60
    assert "changed by staff" in changed[0]["allocations"][0]["explanation"]
    accepted = s.ok(
        s.post("/allocation/commit", {"requests": [welfare["id"]], "accept_suggestion": True})
    )
    assert accepted[0]["lines"][0]["committed"] == 80
    _allocations_within_stock(s)

    # what commitments hold is not handed out or moved otherwise (a loss still leaves by
    # an adjustment): one bottle more than is free at each depot is refused, nothing written
    held_at: dict[str, float] = {}
    for request in (mine, welfare):
        for allocation in s.ok(s.get(f"/requests/{request['id']}"))["allocations"]:
            place = allocation["place_id"]
            held_at[place] = held_at.get(place, 0) + allocation["quantity"]
    movements_before = _count(s, Movement)
    free = {}
    for place_id, code in ((s.depot_id, "D-01"), (s.other_depot_id, "D-02")):
        free[code] = s.stock(code, "water-2l") - held_at.get(place_id, 0)
        line = {"item": "water-2l", "quantity": free[code] + 1}
        for path, body in (
            ("/stock/issues", {"place": code, "lines": [line]}),
            ("/stock/transfers", {"from_place": code, "to_place": "S-02", "lines": [line]}),
        ):
            held = s.post(path, body)
            assert held.status_code == 409, held.text
            assert "引当" in held.json()["detail"]
    assert _count(s, Movement) == movements_before
    assert sum(free.values()) == 150 - 140  # 140 held of the 150 bottles
    code = max(free, key=lambda c: free[c])
    line = {"item": "water-2l", "quantity": free[code]}
    issued = s.ok(s.post("/stock/issues", {"place": code, "lines": [line]}), 201)
    (expiry,) = {ln["expires_on"] for ln in issued["lines"]}
    s.ok(s.receive(code, {**line, "expires_on": expiry}), 201)
    _allocations_within_stock(s)

    # the depot ships from its own depot only; the goods move through the ledger
    assert (
        s.post(f"/requests/{welfare['id']}/shipments", {"from_place": "D-02"}, s.depot).status_code
        == 404
    )
    shipment = s.ok(
        s.post(
            f"/requests/{mine['id']}/shipments",
            {
                "from_place": "D-01",
                "vehicle": "宮城 100 さ 12-34",
                "driver": "山田 太郎",
                "driver_phone": "090-0000-0000",
            },
            s.depot,
        ),
        201,
    )
    assert shipment["vehicle"] == "宮城 100 さ 12-34" and shipment["status"] == "dispatched"
    assert s.stock("D-01", "water-2l") == 40 and s.stock("S-01", "water-2l") == 60
    assert s.ok(s.get(f"/requests/{mine['id']}"))["status"] == "shipped"

    # a receipt that differs without a report is refused, nothing written
    (line,) = shipment["lines"]
    url = f"/shipments/{shipment['id']}/receipt"
    for body in (
        {"lines": [{"line": line["id"], "received": 55}]},
        {"lines": [{"line": line["id"], "received": 65, "discrepancy": {"kind": "short"}}]},
        {"lines": [{"line": line["id"], "received": 55, "discrepancy": {"kind": "over"}}]},
        {"lines": [{"line": line["id"], "received": 55.5, "discrepancy": {"kind": "short"}}]},
        {"lines": [{"line": line["id"], "received": -1, "discrepancy": {"kind": "short"}}]},
    ):
        assert s.post(url, body, office.shelter).status_code == 422, body
    assert _count(s, Discrepancy) == 0
    assert s.post(url, {}, s.depot).status_code == 403  # the depot does not receive
    received = s.ok(
        s.post(
            url,
            {
                "lines": [
                    {
                        "line": line["id"],
                        "received": 55,
                        "discrepancy": {"kind": "damaged", "note": "5 本破損"},
                    }
                ]
            },
            office.shelter,
        )
    )
    assert received["status"] == "received" and received["lines"][0]["received"] == 55
    assert [(d["kind"], d["quantity"]) for d in received["discrepancies"]] == [("damaged", 5)]
    assert s.stock("S-01", "water-2l") == 55  # the damaged five left by an adjustment
    done = s.ok(s.get(f"/requests/{mine['id']}"))
    assert done["status"] == "received"
    assert done["lines"][0]["received"] == 55 and done["lines"][0]["short"] == 65
    assert s.post(url, {}, office.shelter).status_code == 409  # received once

    # a cancelled shipment is not received; its goods went back to the depot
    shipped = s.ok(s.post(f"/requests/{welfare['id']}/shipments", {"from_place": "D-01"}), 201)
    assert s.stock("S-02", "water-2l") > 0
    # the shelter account neither sees nor receives a shipment to another shelter
    for response in (
        s.get(f"/shipments/{shipped['id']}", office.shelter),
        s.post(f"/shipments/{shipped['id']}/receipt", {}, office.shelter),
    ):
        assert response.status_code == 404, response.text
    assert s.ok(s.get(f"/shipments/{shipped['id']}"))["status"] == "dispatched"
    # the rest of it waits at D-02: the request is still committed, but with goods on the
    # road it cannot be cancelled (they would arrive for a cancelled request)
    assert s.ok(s.get(f"/requests/{welfare['id']}"))["status"] == "committed"
    on_the_road = s.post(f"/requests/{welfare['id']}/cancel", {"reason": "統合"})
    assert on_the_road.status_code == 409, on_the_road.text
    assert "出荷中" in on_the_road.json()["detail"]
    assert s.ok(s.get(f"/requests/{welfare['id']}"))["status"] == "committed"
    s.ok(s.post(f"/shipments/{shipped['id']}/cancel", {}))
    assert s.stock("S-02", "water-2l") == 0
    refused = s.post(f"/shipments/{shipped['id']}/receipt", {})
    assert refused.status_code == 409 and "取り消された" in refused.json()["detail"]
    assert s.ok(s.get(f"/requests/{welfare['id']}"))["status"] == "committed"
    _received_never_over_shipped_unreported(s)
    check = s.ok(s.get("/stock/check"))
    assert check["ok"], check


def _bad_input_cancelling_donations_and_the_cli(
    supplies: SupplyOffice, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = supplies
    office = s.office
    before = _count(s, Request)
    for lines in (
        [{"item": "no-such-item", "quantity": 1}],
        [{"item": "water-2l", "quantity": 2.5}],  # bottles come whole
        [{"item": "water-2l", "quantity": -3}],
        [{"item": "water-2l", "quantity": 0}],
        [{"item": "water-2l", "quantity": 3, "vulnerable": 4}],
        [{"kit": "no-such-kit", "count": 1}],
        [{"item": "water-2l"}],
    ):
        response = s.post("/requests", {"shelter": "S-01", "lines": lines})
        assert response.status_code == 422, (lines, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert _count(s, Request) == before

    # a kit adds its items; litres of tank water may have fractions
    s.ok(
        s.post(
            "/kits",
            {
                "code": "infant-kit",
                "name": "乳児セット",
                "items": [
                    {"item": "formula-liquid", "quantity": 6},
                    {"item": "diaper-infant", "quantity": 10},
                ],
            },
        ),
        201,
    )
    assert s.post("/kits", {"code": "x", "name": "x", "items": []}, office.shelter).status_code in (
        403,
        422,
    )
    request = s.ok(
        s.post(
            "/requests",
            {
                "shelter": "S-01",
                "lines": [
                    {"kit": "infant-kit", "count": 3},
                    {"item": "water-bulk", "quantity": 12.5},
                ],
            },
            office.shelter,
        ),
        201,
    )
    quantities = {line["item_code"]: line["requested"] for line in request["lines"]}
    assert quantities == {"formula-liquid": 18, "diaper-infant": 30, "water-bulk": 12.5}

    # a shelter cancels its own before approval; after approval only staff
    url = f"/requests/{request['id']}"
    s.ok(s.post(f"{url}/submit", {}, office.shelter))
    s.ok(s.post(f"{url}/approve", {}))
    assert s.post(f"{url}/cancel", {"reason": "不要"}, office.shelter).status_code == 409
    assert s.post(f"{url}/cancel", {"reason": ""}).status_code == 422
    cancelled = s.ok(s.post(f"{url}/cancel", {"reason": "他の避難所と統合"}))
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "他の避難所と統合"
    assert s.post(f"{url}/approve", {}).status_code == 409

    # donations: an offer, accepted, received into a depot through the ledger
    offer = s.ok(
        s.post(
            "/donations",
            {"donor": "株式会社〇〇", "lines": [{"item": "blanket", "quantity": 200}]},
        ),
        201,
    )
    bad = s.post("/donations", {"donor": "x", "lines": [{"item": "blanket", "quantity": 0.5}]})
    assert bad.status_code == 422
    early = s.post(f"/donations/{offer['id']}/receive", {"place": "D-01"})
    assert early.status_code == 409
    s.ok(s.post(f"/donations/{offer['id']}/accept", {}))
    received = s.ok(s.post(f"/donations/{offer['id']}/receive", {"place": "D-01"}, s.depot))
    assert received["status"] == "received" and received["movement_id"]
    assert s.stock("D-01", "blanket") == 200

    # the CLI, as staff would script it: list, approve, the suggestion, EDXL-RM out
    monkeypatch.setenv("YUI_DATABASE_URL", database_url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    cli = CliRunner()

    def run(*args: str) -> Any:
        return cli.invoke(yui, ["supplies", "requests", *args])

    fresh = s.ok(
        s.post(
            "/requests",
            {"shelter": "S-01", "lines": [{"item": "blanket", "quantity": 50}], "submit": True},
        ),
        201,
    )
    listed = run("list", "--tenant", office.code, "--status", "submitted", "--json")
    assert listed.exit_code == 0, listed.output
    assert [r["id"] for r in json.loads(listed.output)] == [fresh["id"]]
    assert run("approve", fresh["id"], "--tenant", office.code).exit_code == 0
    assert run("approve", fresh["id"], "--tenant", office.code).exit_code == 2  # twice
    assert run("approve", str(uuid.uuid4()), "--tenant", office.code).exit_code == 2
    shown = run("allocate", "--tenant", office.code, "--json")
    assert shown.exit_code == 0, shown.output
    (line,) = json.loads(shown.output)
    assert line["allocated"] == "50" and line["rule"] == "full" and " / " in line["explanation"]
    committed = run("allocate", "--tenant", office.code, "--commit", "--actor", "ops")
    assert committed.exit_code == 0, committed.output
    assert s.ok(s.get(f"/requests/{fresh['id']}"))["status"] == "committed"
    exported = tmp_path / "request.xml"
    assert (
        run("edxl-export", fresh["id"], "--tenant", office.code, "-o", str(exported)).exit_code == 0
    )
    assert parse(exported.read_bytes()).lines[0].item_code == "blanket"
    bad = run("ask", "--tenant", office.code, "--to", "131016", "--item", "blanket=-2")
    assert bad.exit_code == 2
    unknown = run("ask", "--tenant", office.code, "--to", "131016", "--item", "nothing=2")
    assert unknown.exit_code == 2 and "nothing" in unknown.output


@settings(max_examples=200, deadline=None)
@given(
    shipped=st.integers(min_value=1, max_value=1000),
    received=st.integers(min_value=0, max_value=2000),
    kind=st.none() | st.sampled_from(list(DiscrepancyKind)),
)
def test_received_never_differs_from_shipped_without_a_report(
    shipped: int, received: int, kind: DiscrepancyKind | None
) -> None:
    allowed = (
        (received == shipped and kind is None)
        or (received < shipped and kind in (DiscrepancyKind.SHORT, DiscrepancyKind.DAMAGED))
        or (received > shipped and kind == DiscrepancyKind.OVER)
    )
    try:
        check_receipt(Decimal(shipped), Decimal(received), kind)
    except InvalidInput:
        assert not allowed
    else:
        assert allowed


def _allocations_within_stock(s: SupplyOffice) -> None:
    """What commitments hold, unshipped, never exceeds what the lot holds at the depot."""
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        held = uow.session.execute(
            select(Allocation.place_id, Allocation.lot_id, func.sum(Allocation.quantity))
            .where(Allocation.shipment_id.is_(None))
            .group_by(Allocation.place_id, Allocation.lot_id)
        ).all()
        for place_id, lot_id, quantity in held:
            balance = uow.session.execute(
                select(StockBalance.quantity).where(
                    StockBalance.place_id == place_id, StockBalance.lot_id == lot_id
                )
            ).scalar_one()
            assert quantity <= balance


def _received_never_over_shipped_unreported(s: SupplyOffice) -> None:
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        for line in uow.session.execute(select(ShipmentLine)).scalars():
            if line.received > line.shipped:
                kinds = uow.session.execute(
                    select(Discrepancy.kind).where(Discrepancy.shipment_line_id == line.id)
                ).scalars()
                assert DiscrepancyKind.OVER.value in set(kinds)
