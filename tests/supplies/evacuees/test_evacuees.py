"""Shelter check-ins and check-outs over HTTP: residents through the registry's port,
unregistered parties, the ShelterCheckedIn event in the check-in's unit of work,
occupancy, its make-up and history, care notes for staff only, refusals that write
nothing, and the shelter role kept to its own shelter; then the needs per shelter and
day from occupancy and its make-up by the standards table (defaults and the
municipality's own values), and the shortfalls per shelter and in total against the
stock in date at the shelters and the depots (one office for both: each costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplies.evacuees.models import Stay
from tests.residents.conftest import audit_actions
from tests.supplies.supply_office import SupplyOffice, new_id
from yui.events import BUS, ShelterCheckedIn


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, bool]]]:
    """The check-in events, each with whether the check-in's stay was visible in the
    session the event came with (the publisher's unit of work). The site's own handlers
    (safety confirmation's sign of life, wired by the composition root) still run."""
    seen: list[tuple[Any, bool]] = []

    def record(event: ShelterCheckedIn, session: Session | None) -> None:
        assert session is not None
        stay = session.execute(
            select(Stay).where(Stay.resident_id == event.resident_id, Stay.checked_out_at.is_(None))
        ).scalar_one_or_none()
        seen.append((event, stay is not None and stay.shelter_id == event.shelter_id))

    wired = list(BUS._handlers.get(ShelterCheckedIn, []))
    monkeypatch.setitem(BUS._handlers, ShelterCheckedIn, [*wired, record])
    yield seen


def _check_in(s: SupplyOffice, shelter: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return s.post(f"/shelters/{shelter}/check-ins", body, headers)


def _check_out(s: SupplyOffice, shelter: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return s.post(f"/shelters/{shelter}/check-outs", body, headers)


def _line(shelter: dict, code: str) -> dict:  # type: ignore[type-arg]
    return next(line for line in shelter["needs"] if line["need_code"] == code)


def test_check_ins_occupancy_the_sign_of_life_and_needs(
    supplies: SupplyOffice, published: list[tuple[Any, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, shelter, staff = supplies, supplies.office.shelter, supplies.office.staff
    hanako = s.office.register()["id"]
    taro = s.office.register(given_name="太郎", given_kana="タロウ", sex="male")["id"]

    campaign = s.ok(
        s.office.client.post(
            f"{s.office.api}/safety/campaigns",
            json={"title": "宮城県沖地震", "kind": "live"},
            headers=staff,
        ),
        201,
    )

    stay_id = new_id()
    body = {"id": stay_id, "kind": "resident", "resident_id": hanako, "makeup": {"elderly": 1}}
    first = s.ok(_check_in(s, "S-01", body, shelter), 201)
    # safety confirmation counts the check-in as a sign of life: the services meet only
    # through the kernel's event, wired by the site
    seen = s.ok(
        s.office.client.get(
            f"{s.office.api}/safety/campaigns/{campaign['id']}/residents/{hanako}",
            headers=staff,
        )
    )["current"]
    assert (seen["status"], seen["shelter"], seen["reporter_kind"]) == (
        "at_shelter",
        "S-01 の名前",
        "shelter_check_in",
    )
    assert first["resident_id"] == hanako and first["care_note"] is None
    assert s.ok(_check_in(s, "S-01", body, shelter)) == first  # a resend: 200, once
    event, visible = published[0]
    assert len(published) == 1 and visible
    assert (event.tenant, event.resident_id, event.shelter_id, event.town_name) == (
        s.office.code,
        hanako,
        s.shelter_id,
        "一番町一丁目",  # the registry's 町字: safety confirmation counts it there
    )

    # an unregistered party: 12 stranded commuters, counts only
    party = {
        "kind": "commuter",
        "label": "仙台駅 帰宅困難者",
        "people": 12,
        "makeup": {"infant": 1, "allergy": 2, "menstruating": 4},
    }
    commuters = s.ok(_check_in(s, "S-01", party, shelter), 201)
    occupancy = s.ok(s.get("/shelters/S-01/occupancy", shelter))
    assert occupancy["people"] == 13 and occupancy["stays"] == 2
    assert {k: v for k, v in occupancy["makeup"].items() if v} == {
        "elderly": 1,
        "infant": 1,
        "allergy": 2,
        "menstruating": 4,
    }

    refused = [
        (_check_in(s, "S-01", {**body, "id": new_id()}, shelter), 409),  # already here
        (_check_in(s, "S-01", {"kind": "resident", "resident_id": new_id()}, shelter), 404),
        (
            _check_in(
                s, "S-01", {"kind": "visitor", "people": 2, "makeup": {"infant": 3}}, shelter
            ),
            422,
        ),
        (_check_in(s, "S-01", {"kind": "visitor", "people": 0}, shelter), 422),
        (_check_in(s, "S-01", {"kind": "visitor", "care_note": "インスリン"}, shelter), 403),
        (_check_in(s, "S-02", {"kind": "visitor"}, shelter), 404),  # not its shelter
        # check-outs of someone never checked in (here), by resident and by stay
        (_check_out(s, "S-01", {"resident_id": taro}, shelter), 409),
        (_check_out(s, "S-01", {"stay_id": new_id()}, shelter), 409),
        (_check_out(s, "S-01", {}, shelter), 422),
        (s.post("/shelters/S-01/close", {}, shelter), 409),  # people are still there
    ]
    actions = audit_actions(s.office)
    for response, status in refused:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert s.ok(s.get("/shelters/S-01/occupancy", shelter))["people"] == 13
    assert audit_actions(s.office) == actions and len(published) == 1

    # staff check Taro in at the welfare shelter with a care note; the shelter account
    # of S-01 sees neither that shelter nor any care note
    s.ok(
        _check_in(
            s, "S-02", {"kind": "resident", "resident_id": taro, "care_note": "車椅子"}, staff
        ),
        201,
    )
    assert [st["care_note"] for st in s.ok(s.get("/shelters/S-02/stays", staff))] == ["車椅子"]
    assert s.get("/shelters/S-02/stays", shelter).status_code == 404
    assert [o["shelter_code"] for o in s.ok(s.get("/shelters/occupancy", shelter))] == ["S-01"]
    # ... and when Taro moves to S-01, his S-02 stay ends with the reason "moved"
    s.ok(_check_in(s, "S-01", {"kind": "resident", "resident_id": taro}, shelter), 201)
    left = s.ok(s.get("/shelters/S-02/stays", staff, open="false"))
    assert [(st["check_out_reason"], st["checked_out_at"] is not None) for st in left] == [
        ("moved", True)
    ]
    assert [e.shelter_id for e, _ in published] == [s.shelter_id, s.other_shelter_id, s.shelter_id]

    # a resident under a DV-support block is not found by a shelter account (the
    # registry's rule, through the port as the caller's audience); staff find them
    hidden = s.office.register(given_name="秘子", given_kana="ヒメコ")["id"]
    s.office.block(hidden)
    blocked = _check_in(s, "S-01", {"kind": "resident", "resident_id": hidden}, shelter)
    assert blocked.status_code == 404, blocked.text
    assert s.ok(s.get("/shelters/S-01/occupancy", shelter))["people"] == 14
    staff_in = s.ok(_check_in(s, "S-01", {"kind": "resident", "resident_id": hidden}, staff), 201)
    s.ok(_check_out(s, "S-01", {"stay_id": staff_in["id"]}, staff))

    # part of a party leaves: 5 of the 12 commuters, an infant and two of the four who need
    # sanitary items among them; the party's stay keeps the 7 who remain
    def people_at(at: datetime) -> int:
        moment = at.isoformat()
        history = s.ok(
            s.get("/shelters/S-01/occupancy/history", shelter, since=moment, until=moment)
        )
        return int(history["points"][0]["people"])

    part = {"stay_id": commuters["id"], "people": 5, "makeup": {"infant": 1, "menstruating": 2}}
    refused = [
        (_check_out(s, "S-01", {**part, "people": 13, "makeup": {}}, shelter), 422),  # > 12
        (_check_out(s, "S-01", {**part, "makeup": {"infant": 2}}, shelter), 422),  # 1 infant
        (_check_out(s, "S-01", {**part, "people": 10, "makeup": {}}, shelter), 422),  # 4 of 2 left
        (_check_out(s, "S-01", {**part, "makeup": {"infant": 6}}, shelter), 422),  # > people
        (
            _check_out(s, "S-01", {"stay_id": commuters["id"], "makeup": {"infant": 1}}, shelter),
            422,
        ),
        (_check_out(s, "S-01", {**part, "people": 0}, shelter), 422),
        (_check_out(s, "S-01", {**part, "people": 2.5}, shelter), 422),
        (_check_out(s, "S-01", part, s.depot), 403),
        (_check_out(s, "S-02", part, shelter), 404),  # not its shelter
    ]
    actions = audit_actions(s.office)
    for response, status in refused:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert audit_actions(s.office) == actions
    assert s.ok(s.get("/shelters/S-01/occupancy", shelter))["people"] == 14
    before = datetime.now(UTC)
    part_id = new_id()
    gone = s.ok(_check_out(s, "S-01", {**part, "id": part_id}, shelter))
    assert (gone["id"], gone["people"], gone["label"], gone["checked_in_at"]) == (
        part_id,
        5,
        "仙台駅 帰宅困難者",
        commuters["checked_in_at"],
    )
    assert gone["checked_out_at"] is not None and gone["makeup"] == {"infant": 1, "menstruating": 2}
    assert s.ok(_check_out(s, "S-01", {**part, "id": part_id}, shelter)) == gone  # a resend: once
    occupancy = s.ok(s.get("/shelters/S-01/occupancy", shelter))
    assert occupancy["people"] == 9 and occupancy["stays"] == 3
    assert {k: v for k, v in occupancy["makeup"].items() if v} == {
        "elderly": 1,
        "allergy": 2,
        "menstruating": 2,
    }
    stays_now = {st["id"]: st for st in s.ok(s.get("/shelters/S-01/stays", shelter))}
    assert stays_now[commuters["id"]]["people"] == 7
    # the history is right on both sides of the moment they left
    assert (people_at(before), people_at(datetime.now(UTC))) == (14, 9)
    # ... and so are the needs computed from the occupancy at that moment (the shelter
    # account still sees its own shelter only)
    then = s.ok(s.get("/needs", shelter, at=before.isoformat()))
    assert [(x["shelter_code"], x["people"]) for x in then["shelters"]] == [("S-01", 14)]
    assert _line(then["shelters"][0], "infant_diapers")["required"] == 8  # the infant was there
    assert then["at"] is not None
    now_needs = s.ok(s.get("/needs", shelter))
    assert [(x["shelter_code"], x["people"]) for x in now_needs["shelters"]] == [("S-01", 9)]
    assert _line(now_needs["shelters"][0], "infant_diapers")["required"] == 0
    assert now_needs["at"] is None
    for bad in ((datetime.now(UTC) + timedelta(hours=1)).isoformat(), "2026-12-07T05:00:00"):
        refused_needs = s.get("/needs", shelter, at=bad)
        assert refused_needs.status_code == 422, refused_needs.text
        assert refused_needs.headers["content-type"].startswith("application/problem+json")

    out = s.ok(_check_out(s, "S-01", {"resident_id": hanako}, shelter))
    assert out["check_out_reason"] == "left"
    s.ok(_check_out(s, "S-01", {"stay_id": commuters["id"]}, shelter))
    assert _check_out(s, "S-01", {"resident_id": hanako}, shelter).status_code == 409
    assert s.ok(s.get("/shelters/S-01/occupancy", shelter))["people"] == 1
    history = s.ok(s.get("/shelters/S-01/occupancy/history", shelter, step_minutes=5))
    assert history["points"][-1]["people"] == 1
    assert {"supplies.check_in", "supplies.check_out"} <= set(audit_actions(s.office))

    # the event's handler runs in the check-in's unit of work: when it fails, nothing of
    # the check-in is written (a lost sign of life is worse than a retried check-in) and
    # the desk is told to send the same check-in again: a 503 problem with Retry-After
    def fail(event: ShelterCheckedIn, session: Session | None) -> None:
        raise RuntimeError("safety confirmation is broken")

    working = list(BUS._handlers[ShelterCheckedIn])
    monkeypatch.setitem(BUS._handlers, ShelterCheckedIn, [fail])
    again = {"id": new_id(), "kind": "resident", "resident_id": hanako}
    failed = _check_in(s, "S-01", again, shelter)
    assert failed.status_code == 503, failed.text
    assert failed.headers["content-type"].startswith("application/problem+json")
    assert int(failed.headers["Retry-After"]) >= 1
    assert failed.json()["type"].endswith("sign-of-life-unavailable")
    assert s.ok(s.get("/shelters/S-01/occupancy"))["people"] == 1
    assert not [
        st for st in s.ok(s.get("/shelters/S-01/stays", open="false")) if st["id"] == again["id"]
    ]
    # once the handler works again, the same check-in resent is recorded once, with its sign
    monkeypatch.setitem(BUS._handlers, ShelterCheckedIn, working)
    retried = s.ok(_check_in(s, "S-01", again, shelter), 201)
    assert retried["id"] == again["id"] and published[-1][0].resident_id == hanako
    s.ok(_check_in(s, "S-01", again, shelter), 200)
    s.ok(_check_out(s, "S-01", {"resident_id": hanako}, shelter))

    # needs and shortfalls by the standards table, once S-01 is empty again
    s.ok(_check_out(s, "S-01", {"resident_id": taro}, shelter))
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
