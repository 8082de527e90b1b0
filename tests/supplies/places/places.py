"""Places over HTTP: a shelter with everything the issue names (capacity by day and night,
accessibility, coordinates, contact, who runs it), changed by staff; opening and closing;
which accounts work which place; bad input refused with nothing written; the shelter
account kept to its own shelter (another is a 404, changing a place is for staff)."""

from __future__ import annotations

from typing import Any

from tests.residents.conftest import audit_actions
from tests.supplies.supply_office import SupplyOffice

WELFARE = {
    "code": "S-10",
    "kind": "welfare_shelter",
    "name": "青葉福祉センター",
    "address": "仙台市青葉区一番町 1-1",
    "latitude": 38.2601,
    "longitude": 140.8719,
    "contact_name": "佐藤 一郎",
    "contact_phone": "022-000-1111",
    "operator": "社会福祉法人あおば",
    "capacity_day": 60,
    "capacity_night": 40,
    "floor_area_m2": 180.5,
    "toilets": 3,
    "step_free": True,
    "accessible_toilet": True,
    "accessibility_note": "スロープあり\n介助用ベッド 4 台",
}


def _places(s: SupplyOffice) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = s.ok(s.get("/places"))
    return listed


def _problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def places_assignments_and_roles(s: SupplyOffice) -> None:
    """Run by tests/supplies/stock/test_stock.py in its office (each office costs a
    migration and its sign-ins)."""
    office = s.office
    shelter = office.shelter
    added = s.ok(s.post("/places", WELFARE), 201)
    read = s.ok(s.get("/places/S-10"))
    assert read == added
    assert {key: read[key] for key in WELFARE} == {**WELFARE}
    assert (read["depot"], read["is_open"], read["active"]) == (False, False, True)

    # staff change what changed; the rest stays
    changed = s.ok(
        office.client.patch(
            f"{s.api}/places/{added['id']}",
            json={"capacity_night": 45, "operator": "仙台市", "step_free": False},
            headers=s.staff,
        )
    )
    assert (changed["capacity_night"], changed["operator"], changed["step_free"]) == (
        45,
        "仙台市",
        False,
    )
    assert changed["capacity_day"] == 60 and changed["contact_phone"] == "022-000-1111"
    assert {"supplies.place_add", "supplies.place_change"} <= set(audit_actions(office))

    # bad input: refused, nothing written
    places, actions = _places(s), audit_actions(office)
    refused = [
        (s.post("/places", {**WELFARE, "name": "別の名前"}), 409),  # the code is taken
        (s.post("/places", {**WELFARE, "code": "S-11", "latitude": 91}), 422),
        (s.post("/places", {**WELFARE, "code": "S-11", "contact_phone": "call me"}), 422),
        (s.post("/places", {**WELFARE, "code": "S-11", "capacity_night": -1}), 422),
        (s.post("/places", {**WELFARE, "code": "S-11", "kind": "castle"}), 422),
        (s.post("/places", {**WELFARE, "code": "S 11"}), 422),
        # a depot holds goods, not people
        (s.post("/places", {"code": "D-10", "kind": "hub", "name": "x", "toilets": 2}), 422),
        (
            office.client.patch(f"{s.api}/places/D-01", json={"capacity_day": 5}, headers=s.staff),
            422,
        ),
        (
            office.client.patch(f"{s.api}/places/S-10", json={"toilets": 1.5}, headers=s.staff),
            422,
        ),
        (office.client.patch(f"{s.api}/places/X-99", json={"name": "x"}, headers=s.staff), 404),
    ]
    for response, status in refused:
        _problem(response, status)
    assert _places(s) == places and audit_actions(office) == actions

    # opening and closing
    url = "/shelters/S-10"
    opened = s.ok(s.post(f"{url}/open", {}))
    assert opened["is_open"] and opened["opened_at"] is not None
    _problem(s.post(f"{url}/open", {}), 409)  # open already
    _problem(s.post("/shelters/D-01/open", {}), 404)  # a depot is no shelter
    closed = s.ok(s.post(f"{url}/close", {}))
    assert not closed["is_open"] and closed["closed_at"] is not None
    _problem(s.post(f"{url}/close", {}), 409)  # closed already
    s.ok(office.client.patch(f"{s.api}/places/S-10", json={"active": False}, headers=s.staff))
    _problem(s.post(f"{url}/open", {}), 409)  # retired

    # the shelter account: its own shelter only, and changing a place is for staff
    for response, status in (
        (s.post(f"{url}/open", {}, shelter), 404),
        (s.post("/shelters/S-02/close", {}, shelter), 404),
        (s.get("/places/S-10", shelter), 404),
        (office.client.patch(f"{s.api}/places/S-01", json={"toilets": 9}, headers=shelter), 403),
        (s.get("/places/S-01/assignments", shelter), 403),
        (s.post("/places/S-01/assignments", {"username": "shelter1"}, shelter), 403),
        (s.post("/places/S-10/assignments", {"username": "shelter1"}, s.depot), 403),
    ):
        _problem(response, status)
    assert s.ok(s.get("/places/S-01"))["toilets"] == 4
    assert s.ok(s.post("/shelters/S-01/close", {}, shelter))["is_open"] is False
    assert s.ok(s.post("/shelters/S-01/open", {}, shelter))["is_open"] is True

    # assignments: the account must exist here; written as the account's own name, so
    # an assignment typed in other letter case still gives the account its place
    shelter2 = office.headers("shelter2", "shelter")
    for response, status in (
        (s.post("/places/S-10/assignments", {"username": "nobody"}), 422),
        (s.post("/places/S-10/assignments", {"username": "shelter1"}), 201),
        (s.post("/places/S-10/assignments", {"username": "shelter1"}), 409),
        (s.post("/places/S-10/assignments", {"username": "SHELTER2"}), 201),
    ):
        assert response.status_code == status, response.text
    assigned = s.ok(s.get("/places/S-10/assignments"))
    assert [a["username"] for a in assigned] == ["shelter1", "shelter2"]
    assert [p["code"] for p in s.ok(s.get("/places", shelter2))] == ["S-10"]
    assert [p["code"] for p in s.ok(s.get("/places", shelter))] == ["S-01", "S-10"]

    # unassigned, the account no longer reaches the place
    removed = office.client.delete(f"{s.api}/places/S-10/assignments/shelter2", headers=s.staff)
    assert removed.status_code == 204, removed.text
    assert s.get("/places/S-10", shelter2).status_code == 404
    assert s.ok(s.get("/places", shelter2)) == []
    _problem(
        office.client.delete(f"{s.api}/places/S-10/assignments/shelter2", headers=s.staff), 404
    )
    assert {"supplies.place_assign", "supplies.place_unassign"} <= set(audit_actions(office))
