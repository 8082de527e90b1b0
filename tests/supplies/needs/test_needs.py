"""Needs per shelter and day from occupancy and its make-up, by the standards table
(defaults and the municipality's own values), and the shortfalls per shelter and in
total against the stock in date at the shelters and the depots."""

from __future__ import annotations

from datetime import date, timedelta

from tests.supplies.supply_office import SupplyOffice


def _line(shelter: dict, code: str) -> dict:  # type: ignore[type-arg]
    return next(line for line in shelter["needs"] if line["need_code"] == code)


def test_needs_and_shortfalls_follow_the_standards_table(supplies: SupplyOffice) -> None:
    s, shelter = supplies, supplies.office.shelter
    party = {
        "kind": "visitor",
        "people": 100,
        "makeup": {"infant": 5, "allergy": 3, "needs_care": 2, "menstruating": 20},
    }
    s.ok(s.post("/shelters/S-01/check-ins", party), 201)
    s.ok(
        s.receive(
            "S-01",
            {"item": "water-2l", "quantity": 100, "expires_on": "2031-01-31"},
            # out of date: not counted
            {"item": "water-500ml", "quantity": 400, "expires_on": "2020-01-31"},
            {"item": "diaper-infant", "quantity": 50},
        ),
        201,
    )
    s.ok(s.receive("D-01", {"item": "water-2l", "quantity": 30, "expires_on": "2031-01-31"}), 201)

    needs = s.ok(s.get("/needs", shelter, days=1))
    assert [x["shelter_code"] for x in needs["shelters"]] == ["S-01"]
    s01 = needs["shelters"][0]
    assert s01["people"] == 100 and s01["day"] == 1
    water = _line(s01, "drinking_water_l")  # 3 L a person a day
    assert (water["required"], water["available"], water["shortfall"]) == (300, 200, 100)
    assert _line(s01, "food_kcal")["required"] == 210_000
    assert _line(s01, "infant_diapers")["required"] == 40  # 8 for each of 5 infants
    assert _line(s01, "infant_diapers")["shortfall"] == 0
    assert _line(s01, "allergy_free_meals")["required"] == 9
    assert _line(s01, "blankets")["required"] == 100
    # 100 people: 2 toilets at one per 50 (it has 4); 350 m² at 3.5 m² each (it has 350)
    assert s01["toilets"] == {"required": 2, "available": 4, "shortfall": 0, "standard": 50}
    assert s01["floor_m2"]["shortfall"] == 0

    # three days' supply; the depots' 60 L cover part of the total shortfall
    three = s.ok(s.get("/needs", days=3))
    total = next(t for t in three["totals"] if t["need_code"] == "drinking_water_l")
    assert (total["required"], total["shortfall"], total["at_depots"], total["uncovered"]) == (
        900,
        700,
        60,
        640,
    )

    # ten days after opening a stay is long: one toilet per 20 people, 5 for 100
    later = (date.today() + timedelta(days=10)).isoformat()
    toilets = s.ok(s.get("/needs", on=later, shelter="S-01"))["shelters"][0]["toilets"]
    assert (toilets["required"], toilets["shortfall"]) == (5, 1)

    # the municipality's own value: 4 L of water a person a day
    table = s.ok(
        s.office.client.put(
            f"{s.api}/standards/drinking_water_l", json={"value": 4}, headers=s.staff
        )
    )
    assert next(t for t in table if t["key"] == "drinking_water_l")["overridden"]
    assert _line(s.ok(s.get("/needs"))["shelters"][0], "drinking_water_l")["required"] == 400
    for response, status in [
        (
            s.office.client.put(
                f"{s.api}/standards/drinking_water_l", json={"value": -1}, headers=s.staff
            ),
            422,
        ),
        (
            s.office.client.put(f"{s.api}/standards/no_such", json={"value": 1}, headers=s.staff),
            404,
        ),
        (
            s.office.client.put(
                f"{s.api}/standards/drinking_water_l", json={"value": 9}, headers=shelter
            ),
            403,
        ),
        (s.get("/needs", shelter, shelter="S-02"), 404),
    ]:
        assert response.status_code == status, response.text
