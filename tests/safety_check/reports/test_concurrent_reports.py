"""Reports arriving at the same time, as they do after an earthquake: the current rows, the
counts and the changes over time that each report keeps must still say exactly what the
stored history says (no count lost or counted twice when two reports touch the same rows
at once), on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

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


def test_a_drill_purged_while_its_reports_arrive_answers_every_request(office: Office) -> None:
    """Staff purge a drill while its reports still arrive: each report is stored (and then
    purged with the drill) or refused because the drill is gone; nothing fails and nothing
    of the drill is left. The purge deleted the counts before taking the tenant's audit
    head, every report takes them the other way round: on PostgreSQL the two deadlocked."""
    residents = [office.register(address=TOWNS[n % 2]) for n in range(6)]
    drill = open_campaign(office, kind="drill")
    purge_at = 16
    bodies = [
        report_payload(residents[n % len(residents)]["id"], status=STATUSES[n % len(STATUSES)])
        for n in range(48)
    ]

    def send(n: int) -> Any:
        if n == purge_at:
            return office.client.delete(
                f"{office.api}/safety/campaigns/{drill['id']}", headers=office.staff
            )
        return report(office, drill["id"], bodies[n])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, range(len(bodies))))
    assert answers[purge_at].status_code == 204, answers[purge_at].text
    refused = [a for n, a in enumerate(answers) if n != purge_at and a.status_code != 201]
    assert {a.status_code for a in refused} <= {404}, [a.text for a in refused]
    for table in (Report, CurrentStatus, StatusCount, StatusChange, MinuteChange):
        assert [row for row in _rows(office, table) if row.campaign_id == drill["id"]] == []
