"""Stock over HTTP: receipts, transfers and issues first expired first out, adjustments,
refusals that write nothing, roles, the levels and the check against the ledger; then, in
the same office, the places themselves (tests/supplies/places/places.py) and the
catalogue (tests/supplies/catalogue/catalogue.py)."""

from __future__ import annotations

from tests.residents.conftest import audit_actions
from tests.supplies.catalogue.catalogue import catalogue_items_and_lots
from tests.supplies.places.places import places_assignments_and_roles
from tests.supplies.supply_office import SupplyOffice, new_id


def _ledger_size(supplies: SupplyOffice) -> int:
    return len(supplies.ok(supplies.get("/stock/movements", limit=500)))


def test_the_ledger_fefo_refusals_and_roles(
    supplies: SupplyOffice,
) -> None:
    s = supplies
    receipt_id = new_id()
    first = s.ok(
        s.receive(
            s.depot_id,
            {"item": "water-2l", "quantity": 100, "expires_on": "2031-03-31", "lot_code": "B"},
            {"item": "water-2l", "quantity": 50, "expires_on": "2029-01-31", "lot_code": "A"},
            {"item": "blanket", "quantity": 40},
            id=receipt_id,
            source="備蓄購入",
        ),
        201,
    )
    assert {line["quantity"] for line in first["lines"]} == {100, 50, 40}
    # a resend of the same receipt is applied once
    again = s.receive(
        s.depot_id, {"item": "water-2l", "quantity": 100}, id=receipt_id, source="備蓄購入"
    )
    assert again.status_code == 200 and again.json()["id"] == receipt_id
    assert s.stock(s.depot_id, "water-2l") == 150

    # 70 bottles: all 50 of the 2029 lot first, then 20 of the 2031 lot
    moved = s.ok(
        s.post(
            "/stock/transfers",
            {
                "from_place": "D-01",
                "to_place": "S-01",
                "lines": [{"item": "water-2l", "quantity": 70}],
            },
        ),
        201,
    )
    out = sorted(
        (line["expires_on"], line["quantity"]) for line in moved["lines"] if line["quantity"] < 0
    )
    assert out == [("2029-01-31", -50), ("2031-03-31", -20)]
    assert sum(line["quantity"] for line in moved["lines"]) == 0
    assert s.stock(s.depot_id, "water-2l") == 80
    assert s.stock(s.shelter_id, "water-2l") == 70

    # the shelter hands out 55: the 50 of 2029 first
    issued = s.ok(
        s.post(
            "/stock/issues",
            {"place": s.shelter_id, "lines": [{"item": "water-2l", "quantity": 55}]},
            s.office.shelter,
        ),
        201,
    )
    assert sorted(line["quantity"] for line in issued["lines"]) == [-50, -5]
    lots = s.ok(s.get(f"/places/{s.shelter_id}/lots"))
    assert [(lot["expires_on"], lot["quantity"]) for lot in lots] == [("2031-03-31", 15)]

    # a stock count finds 13 of the 15: the ledger gets an adjustment of -2
    counted = s.ok(
        s.post(
            "/stock/adjustments",
            {
                "place": s.shelter_id,
                "reason": "stock_count",
                "lines": [{"item": "water-2l", "lot": lots[0]["lot_id"], "quantity": 13}],
            },
            s.office.shelter,
        ),
        201,
    )
    assert [line["quantity"] for line in counted["lines"]] == [-2]
    check = s.ok(s.get("/stock/check"))
    assert check["ok"] and check["balances"] >= 4
    assert {
        "supplies.receipt",
        "supplies.transfer",
        "supplies.issue",
        "supplies.adjustment",
    } <= set(audit_actions(s.office))

    # bad input and refusals: nothing of them is written (D-01 holds 40 blankets)
    before = _ledger_size(s)
    refused = [
        (s.receive(s.depot_id, {"item": "blanket", "quantity": 2.5}), 422),  # whole units only
        (s.receive(s.depot_id, {"item": "blanket", "quantity": -3}), 422),
        (s.receive(s.depot_id, {"item": "blanket", "quantity": 0}), 422),
        (s.receive(s.depot_id, {"item": "no-such-item", "quantity": 1}), 422),
        (
            s.receive(
                s.depot_id, {"item": "blanket", "quantity": 1}, {"item": "nope", "quantity": 1}
            ),
            422,
        ),
        (s.receive("X-99", {"item": "blanket", "quantity": 1}), 404),
        # more than there is: refused whole, even the line that would fit
        (
            s.post(
                "/stock/issues",
                {
                    "place": "D-01",
                    "lines": [
                        {"item": "blanket", "quantity": 30},
                        {"item": "blanket", "quantity": 25},
                    ],
                },
            ),
            409,
        ),
        (
            s.post(
                "/stock/transfers",
                {
                    "from_place": "D-01",
                    "to_place": "D-01",
                    "lines": [{"item": "blanket", "quantity": 1}],
                },
            ),
            422,
        ),
        (
            s.post(
                "/stock/adjustments",
                {"place": "D-01", "reason": "lost", "lines": [{"item": "blanket", "quantity": 1}]},
            ),
            422,
        ),
    ]
    for response, status in refused:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    # a fraction of a unit that allows fractions is fine
    s.ok(s.receive(s.depot_id, {"item": "rice-bulk", "quantity": 12.5}), 201)
    assert _ledger_size(s) == before + 1
    assert s.stock(s.depot_id, "blanket") == 40
    assert s.ok(s.get("/stock/check"))["ok"]

    # an expired lot is never picked: it leaves by an adjustment with the reason
    s.ok(
        s.receive(s.depot_id, {"item": "alpha-rice", "quantity": 30, "expires_on": "2020-01-01"}),
        201,
    )
    refused = s.post(
        "/stock/issues", {"place": "D-01", "lines": [{"item": "alpha-rice", "quantity": 1}]}
    )
    assert refused.status_code == 409, refused.text
    lot = s.ok(s.get(f"/places/{s.depot_id}/lots"))[0]
    s.ok(
        s.post(
            "/stock/adjustments",
            {
                "place": "D-01",
                "reason": "expired",
                "lines": [{"item": "alpha-rice", "lot": lot["lot_id"], "quantity": 30}],
            },
        ),
        201,
    )
    assert s.stock(s.depot_id, "alpha-rice") == 0

    # roles: each account works only its own places
    depot, shelter, auditor = s.depot, s.office.shelter, s.office.auditor
    s.ok(s.receive(s.other_depot_id, {"item": "blanket", "quantity": 5}), 201)
    # the depot account works its depot (receive, ship anywhere) ...
    s.ok(
        s.post(
            "/stock/receipts",
            {"place": "D-01", "lines": [{"item": "blanket", "quantity": 5}]},
            depot,
        ),
        201,
    )
    s.ok(
        s.post(
            "/stock/transfers",
            {
                "from_place": "D-01",
                "to_place": "S-02",
                "lines": [{"item": "blanket", "quantity": 2}],
            },
            depot,
        ),
        201,
    )
    # ... but not another depot's stock, nor a shelter's
    assert (
        s.post(
            "/stock/receipts",
            {"place": "D-02", "lines": [{"item": "blanket", "quantity": 1}]},
            depot,
        ).status_code
        == 404
    )
    assert (
        s.post(
            "/stock/transfers",
            {
                "from_place": "D-02",
                "to_place": "S-01",
                "lines": [{"item": "blanket", "quantity": 1}],
            },
            depot,
        ).status_code
        == 404
    )
    assert s.get("/stock", depot, place="D-02").status_code == 404
    assert {level["place_code"] for level in s.ok(s.get("/stock", depot))} == {"D-01"}
    ledger = s.ok(s.get("/stock/movements", depot))
    assert ledger and all(any(ln["place_id"] == s.depot_id for ln in m["lines"]) for m in ledger)
    # the shelter account sees only its shelter
    assert s.get("/stock", shelter, place="S-02").status_code == 404
    assert [p["code"] for p in s.ok(s.get("/places", shelter))] == ["S-01"]
    assert s.get(f"/places/{s.other_shelter_id}", shelter).status_code == 404
    # the auditor reads everything and moves nothing; only staff add items and places
    assert {lv["place_code"] for lv in s.ok(s.get("/stock", auditor))} == {
        "D-01",
        "D-02",
        "S-01",
        "S-02",
    }
    assert (
        s.post(
            "/stock/receipts",
            {"place": "D-01", "lines": [{"item": "blanket", "quantity": 1}]},
            auditor,
        ).status_code
        == 403
    )
    assert s.post("/items/seed", {}, depot).status_code == 403
    assert (
        s.post("/places", {"code": "X-1", "kind": "hub", "name": "x"}, shelter).status_code == 403
    )
    places_assignments_and_roles(s)
    catalogue_items_and_lots(s)
