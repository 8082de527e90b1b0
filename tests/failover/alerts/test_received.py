"""The alerts a site received and what it decided, kept for the operators' console:
newest first, paged, with the intake's whole answer (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from failover.alerts import EvacuationSettings
from failover.alerts.intake import ingest
from failover.alerts.received import count_received, received, record_received
from tests.failover.alerts.conftest import cap_tsunami, sandbox_sites
from yui.db.database import Database
from yui.hazard_alerts import parse_alert

SITES = sandbox_sites()


def test_received_alerts_are_kept_newest_first_and_paged(db: Database) -> None:
    tokyo = SITES[0]
    start = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    for n in range(5):
        event = "Tsunami Warning" if n == 4 else "Tsunami Advisory"
        alert = parse_alert(cap_tsunami(tokyo.latitude, tokyo.longitude, event=event))
        outcome = asyncio.run(
            ingest(alert, SITES, EvacuationSettings(), trigger=None, now=alert.sent)
        )
        answer = outcome.to_json()
        at = start + timedelta(minutes=n)
        record_received(db, alert, outcome, answer, site="aws-tokyo", received_at=at, dry_run=False)

    assert count_received(db) == 5
    first, second = received(db, limit=3), received(db, offset=3, limit=3)
    assert [row["received_at"] for row in first + second] == [
        start + timedelta(minutes=n) for n in (4, 3, 2, 1, 0)
    ]
    newest = first[0]
    assert (newest["headline"], newest["action"], newest["site"]) == (
        "Tsunami Warning",
        "evacuate",
        "aws-tokyo",
    )
    assert newest["decision"]["sites"] == [tokyo.name] and not newest["executed"]
    assert newest["summary"].startswith("退避します / evacuate")
    assert {row["action"] for row in second} <= {"none", "evacuate"}
