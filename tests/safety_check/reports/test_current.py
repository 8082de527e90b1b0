"""The current-status table, the counts and the changes over time, kept with each report:
they must always say what the full history says, whatever order reports arrive in; and a
check-in at a shelter (the kernel's ShelterCheckedIn) is a sign of life in the check-in's
own unit of work."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from safety_check.campaigns.models import Campaign
from safety_check.reports.current import minute_of
from safety_check.reports.models import CurrentStatus, Report, StatusChange, StatusCount
from tests.safety_check.conftest import Office, history, open_campaign, report, report_payload
from yui.events import BUS, ShelterCheckedIn

STATUSES = ("safe", "injured", "needs_help", "at_shelter", "information_sought")
TOWNS = (
    {"town_code": "0010001", "town_name": "一番町一丁目", "block": "1"},
    {"town_code": "0010002", "town_name": "二番町", "block": "2"},
)


def backdate(office: Office, campaign: dict[str, Any], hours: float) -> datetime:
    """Open the campaign `hours` earlier, so reports can spread over report time."""
    with office.db.unit_of_work(office.code) as uow:
        row = uow.session.get(Campaign, campaign["id"])
        assert row is not None
        row.opened_at = row.opened_at - timedelta(hours=hours)
        opened = row.opened_at
        uow.commit()
    return opened


def _rows(office: Office, model: Any) -> list[Any]:
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        return list(uow.session.execute(select(model)).scalars())


def _expected_at(reports: list[Report], minute: int | None) -> dict[str, Report]:
    """Each resident's latest report (time, then id), of report minutes before `minute`."""
    latest: dict[str, Report] = {}
    for item in reports:
        if minute is not None and minute_of(item.reported_at) >= minute:
            continue
        best = latest.get(item.resident_id)
        if best is None or (item.reported_at, item.id) > (best.reported_at, best.id):
            latest[item.resident_id] = item
    return latest


def test_the_current_status_and_counts_follow_the_history_in_any_order(office: Office) -> None:
    residents = [office.register(address=TOWNS[n % 2]) for n in range(4)]
    campaign = open_campaign(office)
    opened = backdate(office, campaign, hours=3)
    draw = random.Random(15)
    bodies = []
    for n in range(24):
        resident = draw.choice(residents)
        moment = opened + timedelta(minutes=draw.randrange(0, 170), seconds=draw.randrange(60))
        if n % 6 == 0 and bodies:  # the same report time as another report of someone
            moment = datetime.fromisoformat(draw.choice(bodies)["reported_at"])
        bodies.append(
            report_payload(
                resident["id"], status=draw.choice(STATUSES), reported_at=moment.isoformat()
            )
        )
    draw.shuffle(bodies)  # arrival order has nothing to do with report time
    for body in bodies:
        assert report(office, campaign["id"], body).status_code == 201

    stored = _rows(office, Report)
    latest = _expected_at(stored, None)
    current = {row.resident_id: row for row in _rows(office, CurrentStatus)}
    assert {rid: row.report_id for rid, row in current.items()} == {
        rid: item.id for rid, item in latest.items()
    }
    for rid, row in current.items():
        assert row.status == latest[rid].status and row.town_name == latest[rid].town_name
        assert row.reports == sum(1 for item in stored if item.resident_id == rid)
        assert history(office, campaign["id"], rid)["current"]["id"] == row.report_id
    counts = Counter({(r.town_name, r.status): r.residents for r in _rows(office, StatusCount)})
    assert +counts == Counter((item.town_name, item.status) for item in latest.values())

    # the changes summed up to any minute give the counts of that minute, from the history
    changes = _rows(office, StatusChange)
    first = minute_of(opened)
    for minute in range(first, first + 181, 7):
        summed: Counter[tuple[str, str]] = Counter()
        for change in changes:
            if change.minute < minute:
                summed[(change.town_name, change.status)] += change.delta
        expected = Counter(
            (item.town_name, item.status) for item in _expected_at(stored, minute).values()
        )
        assert +summed == expected, minute

    # the staff counts read the same rows
    districts = office.client.get(
        f"{office.api}/safety/campaigns/{campaign['id']}/districts", headers=office.staff
    ).json()
    by_town = {d["town_name"]: d for d in districts["districts"]}
    for (town, status), n in (+counts).items():
        assert by_town[town]["counts"][status] == n
    assert districts["total"]["residents"] == 4


def _check_in(office: Office, resident: dict[str, Any], at: datetime, **extra: Any) -> None:
    event = ShelterCheckedIn(
        tenant=office.code,
        resident_id=resident["id"],
        shelter_id="shelter-1",
        shelter_name="一番町小学校",
        at=at,
        **extra,
    )
    with office.db.unit_of_work(office.code) as uow:
        BUS.publish(event, uow.session)  # what relief supplies does in its check-in
        uow.commit()


def test_a_shelter_check_in_is_a_sign_of_life(office: Office) -> None:
    resident = office.register()
    live, drill = open_campaign(office), open_campaign(office, kind="drill")
    closed = open_campaign(office, title="前の地震")
    path = f"{office.api}/safety/campaigns/{closed['id']}/close"
    assert office.client.post(path, headers=office.staff).status_code == 200
    earlier = report_payload(resident["id"], status="needs_help")
    assert report(office, live["id"], earlier).status_code == 201

    at = datetime.now(UTC)
    _check_in(office, resident, at, town_name="一番町一丁目")
    seen = history(office, live["id"], resident["id"])
    assert seen["current"]["status"] == "at_shelter"
    assert seen["current"]["shelter"] == "一番町小学校"
    assert seen["current"]["reporter_kind"] == "shelter_check_in"
    assert seen["current"]["recorded_by"] == "shelter check-in"
    assert len(seen["history"]) == 2
    # the same check-in told again records nothing more
    _check_in(office, resident, at, town_name="一番町一丁目")
    assert len(history(office, live["id"], resident["id"])["history"]) == 2
    # drills and closed campaigns take no real check-in
    for other in (drill, closed):
        assert history(office, other["id"], resident["id"])["current"] is None
    stored = [r for r in _rows(office, Report) if r.campaign_id == live["id"]]
    assert {r.source for r in stored} == {"staff", "shelter_check_in"}

    # the check-in's unit of work carries the sign of life: a rollback leaves neither
    with office.db.unit_of_work(office.code) as uow:
        event = ShelterCheckedIn(office.code, resident["id"], "s-2", "体育館", datetime.now(UTC))
        BUS.publish(event, uow.session)
        uow.rollback()
    assert len(history(office, live["id"], resident["id"])["history"]) == 2
    # another municipality's check-in in our unit of work is refused, nothing written
    with office.db.unit_of_work(office.code) as uow, pytest.raises(ValueError):
        BUS.publish(ShelterCheckedIn("131016", resident["id"], "s", "s", at), uow.session)
    with pytest.raises(ValueError):
        BUS.publish(ShelterCheckedIn(office.code, resident["id"], "s", "s", at), None)
