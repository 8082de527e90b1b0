"""The changes over time summed over the 町字 (`MinuteChange`), kept with each report: the
whole campaign's curve reads them, so they must always equal the per-町字 changes summed,
and the counts the full history gives at every minute, whatever order reports arrive in
(late reports that supersede earlier ones, or are superseded by ones already stored, and a
resident who moves to another 町字 between reports)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta

from safety_check.reports.current import minute_of
from safety_check.reports.models import MinuteChange, Report, StatusChange
from tests.safety_check.conftest import Office, open_campaign, report, report_payload
from tests.safety_check.reports.test_current import TOWNS, _expected_at, _rows, backdate

STATUSES = ("safe", "injured", "needs_help", "at_shelter", "information_sought")
CONFIRMING = {"safe", "injured", "needs_help", "at_shelter"}


def _nonzero(changes: Counter[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The changes that change something (a net change may be negative)."""
    return {key: delta for key, delta in changes.items() if delta}


def _minute_totals(office: Office) -> dict[tuple[int, str], int]:
    totals = Counter({(row.minute, row.status): row.delta for row in _rows(office, MinuteChange)})
    return _nonzero(totals)


def _summed_changes(office: Office) -> dict[tuple[int, str], int]:
    summed: Counter[tuple[int, str]] = Counter()
    for row in _rows(office, StatusChange):
        summed[(row.minute, row.status)] += row.delta
    return _nonzero(summed)


def test_minute_totals_equal_the_history_whatever_the_arrival_order(office: Office) -> None:
    residents = [office.register(address=TOWNS[n % 2]) for n in range(4)]
    mover = residents[0]
    campaign = open_campaign(office)
    opened = backdate(office, campaign, hours=3)
    draw = random.Random(17)
    bodies = []
    for n in range(20):
        resident = draw.choice(residents)
        moment = opened + timedelta(minutes=draw.randrange(0, 170), seconds=draw.randrange(60))
        if n % 5 == 0 and bodies:  # the same report time as another report
            moment = datetime.fromisoformat(draw.choice(bodies)["reported_at"])
        status = "safe" if resident is mover else draw.choice(STATUSES)
        bodies.append(report_payload(resident["id"], status=status, reported_at=moment.isoformat()))
    draw.shuffle(bodies)  # arrival order has nothing to do with report time
    for n, body in enumerate(bodies):
        if n == len(bodies) // 2:
            # the mover's later reports carry the new 町字 whatever their report time: the
            # same status in another 町字 changes the 町字 rows but no minute total
            moved = office.client.post(
                f"{office.api}/residents/{mover['id']}/moves",
                json={
                    "kind": "relocation",
                    "effective_on": date.today().isoformat(),
                    "address": TOWNS[1],
                },
                headers=office.staff,
            )
            assert moved.status_code == 201, moved.text
        assert report(office, campaign["id"], body).status_code == 201

    stored = _rows(office, Report)
    assert len({item.town_name for item in stored if item.resident_id == mover["id"]}) == 2
    totals = _minute_totals(office)
    assert totals == _summed_changes(office)

    # summed up to any minute, they give that minute's counts from the history
    first = minute_of(opened)
    for minute in range(first, first + 181):
        summed: Counter[str] = Counter()
        for (at, status), delta in totals.items():
            if at < minute:
                summed[status] += delta
        expected = Counter(item.status for item in _expected_at(stored, minute).values())
        assert +summed == expected, minute

    # the response-rate curve reads them: minute steps agree with the history
    rate = office.client.get(
        f"{office.api}/safety/campaigns/{campaign['id']}/response-rate",
        params={"interval": 60},
        headers=office.staff,
    )
    assert rate.status_code == 200, rate.text
    for point in rate.json()["points"]:
        latest = _expected_at(stored, minute_of(datetime.fromisoformat(point["at"])))
        assert point["reported"] == len(latest)
        assert point["confirmed"] == sum(item.status in CONFIRMING for item in latest.values())
    assert rate.json()["points"][-1]["reported"] == len(residents)
