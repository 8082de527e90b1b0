"""Reports arriving at the same time, as they do after an earthquake: the current rows, the
counts and the changes over time that each report keeps must still say exactly what the
stored history says (no count lost or counted twice when two reports touch the same rows
at once), on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from safety_check.reports.current import minute_of
from safety_check.reports.models import (
    CurrentStatus,
    MinuteChange,
    Report,
    StatusChange,
    StatusCount,
)
from tests.safety_check.conftest import Office, open_campaign, report, report_payload
from tests.safety_check.reports.test_current import TOWNS, _expected_at, _rows, backdate

STATUSES = ("safe", "injured", "needs_help", "at_shelter", "information_sought")


def test_concurrent_reports_keep_the_counts_equal_to_the_history(office: Office) -> None:
    residents = [office.register(address=TOWNS[n % 2]) for n in range(6)]
    campaign = open_campaign(office)
    opened = backdate(office, campaign, hours=1)
    draw = random.Random(23)
    # few residents and minutes: most reports touch the same count and change rows, and
    # many supersede (or arrive after) another report of the same resident
    bodies = [
        report_payload(
            draw.choice(residents)["id"],
            status=draw.choice(STATUSES),
            reported_at=(opened + timedelta(minutes=draw.randrange(3), seconds=n)).isoformat(),
        )
        for n in range(60)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda body: report(office, campaign["id"], body), bodies))
    assert [answer.status_code for answer in answers] == [201] * len(bodies)

    stored = _rows(office, Report)
    assert len(stored) == len(bodies)
    latest = _expected_at(stored, None)
    current = {row.resident_id: row for row in _rows(office, CurrentStatus)}
    assert {rid: row.report_id for rid, row in current.items()} == {
        rid: item.id for rid, item in latest.items()
    }
    reports_of = Counter(item.resident_id for item in stored)
    assert {rid: row.reports for rid, row in current.items()} == dict(reports_of)
    expected = Counter((item.town_name, item.status) for item in latest.values())
    counts = Counter({(r.town_name, r.status): r.residents for r in _rows(office, StatusCount)})
    assert +counts == expected and -counts == Counter()

    # the changes up to each minute give that minute's counts, per 町字 and summed
    changes, minutes = _rows(office, StatusChange), _rows(office, MinuteChange)
    first = minute_of(opened)
    for minute in range(first, first + 5):
        by_town: Counter[tuple[str, str]] = Counter()
        for change in changes:
            if change.minute < minute:
                by_town[(change.town_name, change.status)] += change.delta
        by_status: Counter[str] = Counter()
        for row in minutes:
            if row.minute < minute:
                by_status[row.status] += row.delta
        then = Counter(
            (item.town_name, item.status) for item in _expected_at(stored, minute).values()
        )
        assert +by_town == then and -by_town == Counter(), minute
        assert +by_status == Counter(status for _, status in then.elements()), minute
        assert -by_status == Counter(), minute
