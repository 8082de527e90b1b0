"""The catalogue over HTTP: the seed has what the issue names, each tied to the standards
table and counted in whole units where its unit is; staff add an item, whose lots carry
their expiry; bad items are refused with nothing written; only staff add."""

from __future__ import annotations

from typing import Any

from tests.supplies.supply_office import SupplyOffice

#: the issue's list: 2 L water, 非常食, アルファ米, 毛布, 乳児用・大人用おむつ, 生理用品,
#: 簡易トイレ, 粉ミルク・液体ミルク, アレルギー対応食
NAMED = {
    "water-2l": "drinking_water_l",
    "emergency-meal": "food_kcal",
    "alpha-rice": "food_kcal",
    "blanket": "blankets",
    "diaper-infant": "infant_diapers",
    "diaper-adult": "adult_diapers",
    "sanitary-pad": "sanitary_pads",
    "portable-toilet": "toilet_uses",
    "formula-powder": "infant_formula_g",
    "formula-liquid": "infant_formula_g",
    "allergy-free-meal": "allergy_free_meals",
}

CURRY = {
    "code": "curry-retort",
    "name_ja": "レトルトカレー",
    "name_en": "Retort curry",
    "category": "food",
    "unit_ja": "袋",
    "unit_en": "pouch",
    "shelf_life_days": 1095,
    "need_code": "food_kcal",
    "need_per_unit": 200,
}


def _items(s: SupplyOffice, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {item["code"]: item for item in s.ok(s.get("/items", headers))}


def catalogue_items_and_lots(s: SupplyOffice) -> None:
    """Run by tests/supplies/stock/test_stock.py in its office."""
    office = s.office
    seeded = _items(s)
    assert {code: seeded[code]["need_code"] for code in NAMED} == NAMED
    assert all(seeded[code]["whole_units"] for code in NAMED)
    assert not seeded["rice-bulk"]["whole_units"]  # kilograms may be fractional
    codes = {line["need_code"] for line in s.ok(s.get("/needs"))["totals"]}
    assert {item["need_code"] for item in seeded.values() if item["need_code"]} <= codes
    assert s.ok(s.post("/items/seed", {})) == []  # loaded once

    added = s.ok(s.post("/items", CURRY), 201)
    assert (added["whole_units"], added["active"]) == (True, True)
    # every account that moves or asks for goods reads the catalogue
    for headers in (s.depot, office.shelter, office.auditor):
        assert _items(s, headers)["curry-retort"]["unit_ja"] == "袋"
    # a lot per expiry: two receipts of other dates are two lots, first expired first
    s.ok(
        s.receive("D-02", {"item": "curry-retort", "quantity": 30, "expires_on": "2029-10-31"}), 201
    )
    s.ok(
        s.receive("D-02", {"item": "curry-retort", "quantity": 20, "expires_on": "2028-04-30"}), 201
    )
    lots = [
        (lot["expires_on"], lot["quantity"])
        for lot in s.ok(s.get(f"/places/{s.other_depot_id}/lots"))
        if lot["item_code"] == "curry-retort"
    ]
    assert lots == [("2028-04-30", 20), ("2029-10-31", 30)]

    before = _items(s)
    for body, status in (
        (CURRY, 409),  # the code is taken
        ({**CURRY, "code": "curry-2", "need_code": "happiness"}, 422),
        ({**CURRY, "code": "Curry 2"}, 422),
        ({**CURRY, "code": "curry-2", "need_per_unit": -1}, 422),
        ({**CURRY, "code": "curry-2", "category": "weapons"}, 422),
        ({**CURRY, "code": "curry-2", "shelf_life_days": 0}, 422),
        ({**CURRY, "code": "curry-2", "unit_ja": ""}, 422),
    ):
        response = s.post("/items", body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    for headers in (s.depot, office.shelter, office.auditor):
        assert s.post("/items", {**CURRY, "code": "curry-3"}, headers).status_code == 403
    assert _items(s) == before
