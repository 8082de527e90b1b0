"""Benchmark: safety confirmation's staff counts on a tenant of 1,000,000 residents and
1,000,000 reports (issue 15).

    python bench/dashboard.py [--residents N] [--reports M] [--db URL] [--requests R]

Fills the tenant once (kept for later runs): the residents through the registry's
ordinary CSV import of synthetic residents (as bench/search.py does), then one live
campaign with M reports spread over its first six hours, some residents reported two or
three times, ~20 % of them never. The reports and the rows each report keeps up to date
(current status, counts per 町字 and status, changes per minute per 町字 and summed over
them) are written in bulk with the values `reports/current.py` would give them (the write
path itself is bench/reports.py's); the fill checks the counts against the current rows.

Then R requests of the staff counts the way GET /safety/campaigns/{id}/districts serves
them: one unit of work, the registry's residents per 町字 through the port (reused for 30 s,
see docs/safety-check.md), the counts rows, the answer serialized as JSON. Measured warm
(the port's count reused, as on a dashboard refreshing) and cold (the registry counted
on every request), plus the counts over time (timeline, 10-minute steps). The last line
printed is one JSON object with `dashboard_p95_ms`. Target: ≤ 200 ms on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _sites  # noqa: F401 - bench/failover.py must not shadow the failover package

TENANT = "041009"
STATUSES = (
    ("safe", 55),
    ("at_shelter", 15),
    ("injured", 5),
    ("needs_help", 4),
    ("information_sought", 8),
    ("believed_missing", 2),
    ("believed_alive", 6),
    ("is_note_author", 5),
)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench_url(residents: int) -> str:
    """The SQLite file of a tenant of `residents` (bench/console.py fills and reads the
    same one: a million residents and reports are filled once for both)."""
    return f"sqlite:///{Path(tempfile.gettempdir()) / f'yui-bench-dashboard-{residents}.db'}"


def _fill_residents(db: object, count: int, seed: int) -> tuple[int, float]:
    """The schema at head, the tenant, and `count` residents through the registry's
    import (those missing only); the residents present and the seconds it took."""
    from sqlalchemy import func, select

    from assembly.schema import SCHEMA_HISTORY
    from residents.demo.service import generate
    from residents.registry.models import Resident
    from yui.db.database import Database
    from yui.errors import Conflict
    from yui.tenancy.service import create_tenant

    assert isinstance(db, Database)
    db.migrate(SCHEMA_HISTORY)
    with contextlib.suppress(Conflict):  # already there from an earlier run
        create_tenant(db, TENANT, "仙台市")
    with db.unit_of_work(TENANT, read_only=True) as uow:
        present = uow.session.execute(select(func.count()).select_from(Resident)).scalar_one()
    if present >= count:
        return present, 0.0
    began = time.perf_counter()
    generated = generate(db, TENANT, count - present, seed=seed, actor="bench")
    return present + generated.report.imported, time.perf_counter() - began


def _fill_reports(db: object, count: int, seed: int) -> tuple[str, float]:
    """One live campaign with `count` reports and their derived rows, in bulk."""
    from sqlalchemy import func, insert, select

    from residents.registry.models import Resident
    from safety_check.campaigns.models import Campaign
    from safety_check.reports.current import minute_of
    from safety_check.reports.models import (
        CurrentStatus,
        MinuteChange,
        Report,
        StatusChange,
        StatusCount,
    )
    from yui.db.database import Database

    assert isinstance(db, Database)
    with db.unit_of_work(TENANT, read_only=True) as uow:
        existing = uow.session.execute(
            select(Campaign.id).where(Campaign.title == "bench dashboard")
        ).scalar_one_or_none()
        if existing is not None:
            reports = uow.session.execute(
                select(func.count()).select_from(Report).where(Report.campaign_id == existing)
            ).scalar_one()
            if reports >= count:
                return existing, 0.0
        residents = list(uow.session.execute(select(Resident.id, Resident.town_name)).all())
    began = time.perf_counter()
    rng = random.Random(seed)
    statuses = [name for name, weight in STATUSES for _ in range(weight)]
    opened = datetime.now(UTC) - timedelta(hours=7)
    campaign_id = str(uuid.uuid4())
    # ~80 % of residents report; the rest of the reports are second and third ones
    reported = rng.sample(residents, min(len(residents), int(count * 0.8)))
    subjects = list(reported) + [rng.choice(reported) for _ in range(count - len(reported))]
    by_resident: dict[str, list[dict[str, object]]] = {}
    rows = []
    for resident_id, town in subjects:
        at = opened + timedelta(seconds=rng.randrange(6 * 3600))
        row = {
            "tenant_id": TENANT,
            "id": str(uuid.uuid4()),
            "campaign_id": campaign_id,
            "resident_id": resident_id,
            "town_name": town,
            "status": rng.choice(statuses),
            "reported_at": at,
            "received_at": at,
            "reporter_kind": "resident",
            "location": "",
            "shelter": "",
            "note": "",
            "recorded_by": "bench",
            "source": "one_tap",
        }
        rows.append(row)
        by_resident.setdefault(resident_id, []).append(row)
    current_rows, counts, changes = [], Counter[tuple[str, str]](), Counter[tuple[int, str, str]]()
    for resident_id, history in by_resident.items():
        history.sort(key=lambda r: (r["reported_at"], r["id"]))  # type: ignore[arg-type,return-value]
        before: dict[str, object] | None = None
        for row in history:
            minute = minute_of(row["reported_at"])  # type: ignore[arg-type]
            changes[(minute, str(row["town_name"]), str(row["status"]))] += 1
            if before is not None:
                changes[(minute, str(before["town_name"]), str(before["status"]))] -= 1
            before = row
        last = history[-1]
        counts[(str(last["town_name"]), str(last["status"]))] += 1
        current_rows.append(
            {
                "tenant_id": TENANT,
                "campaign_id": campaign_id,
                "resident_id": resident_id,
                "report_id": last["id"],
                "status": last["status"],
                "reported_at": last["reported_at"],
                "town_name": last["town_name"],
                "reporter_kind": "resident",
                "reports": len(history),
                "disagreeing": False,
            }
        )
    minutes = Counter[tuple[int, str]]()
    for (minute, _town, status), delta in changes.items():
        minutes[(minute, status)] += delta
    with db.unit_of_work(TENANT) as uow:
        uow.session.add(
            Campaign(
                id=campaign_id,
                title="bench dashboard",
                kind="live",
                opened_at=opened,
                opened_by="bench",
            )
        )
        uow.commit()
    # bulk, outside the change log: a read benchmark's fixture, not the write path
    with db.engine.begin() as connection:
        for table, values in (
            (Report.__table__, rows),
            (CurrentStatus.__table__, current_rows),
            (
                StatusCount.__table__,
                [
                    {
                        "tenant_id": TENANT,
                        "campaign_id": campaign_id,
                        "town_name": town,
                        "status": status,
                        "residents": n,
                    }
                    for (town, status), n in counts.items()
                ],
            ),
            (
                StatusChange.__table__,
                [
                    {
                        "tenant_id": TENANT,
                        "campaign_id": campaign_id,
                        "minute": minute,
                        "town_name": town,
                        "status": status,
                        "delta": delta,
                    }
                    for (minute, town, status), delta in changes.items()
                    if delta
                ],
            ),
            (
                MinuteChange.__table__,
                [
                    {
                        "tenant_id": TENANT,
                        "campaign_id": campaign_id,
                        "minute": minute,
                        "status": status,
                        "delta": delta,
                    }
                    for (minute, status), delta in minutes.items()
                    if delta
                ],
            ),
        ):
            for start in range(0, len(values), 20_000):
                connection.execute(insert(table), values[start : start + 20_000])
    with db.unit_of_work(TENANT, read_only=True) as uow:
        summed = uow.session.execute(
            select(func.sum(StatusCount.residents)).where(StatusCount.campaign_id == campaign_id)
        ).scalar_one()
        current = uow.session.execute(
            select(func.count())
            .select_from(CurrentStatus)
            .where(CurrentStatus.campaign_id == campaign_id)
        ).scalar_one()
        assert summed == current == len(by_resident), (summed, current, len(by_resident))
    return campaign_id, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--db", default="", help="SQLAlchemy URL (default: a SQLite file in /tmp)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from residents.directory.service import Directory
    from safety_check.views import service as views
    from yui.db.database import Database

    url = args.db or bench_url(args.residents)
    db = Database(url)
    present, fill_seconds = _fill_residents(db, args.residents, args.seed)
    campaign_id, reports_seconds = _fill_reports(db, args.reports, args.seed)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")

    directory = Directory(db)

    def counts() -> float:
        began = time.perf_counter()
        with db.unit_of_work(TENANT) as uow:
            out = views.counts_by_district(uow, directory, campaign_id)
        out.model_dump_json()
        return (time.perf_counter() - began) * 1000

    def timeline() -> float:
        began = time.perf_counter()
        with db.unit_of_work(TENANT) as uow:
            out = views.timeline(uow, campaign_id, interval=600, town="")
        out.model_dump_json()
        return (time.perf_counter() - began) * 1000

    for _ in range(5):  # warm the caches
        counts()
    warm = [counts() for _ in range(args.requests)]
    cold = []
    for _ in range(max(10, args.requests // 10)):
        views._population_cache.clear()  # the registry counted again, as every 30 s
        cold.append(counts())
    curve = [timeline() for _ in range(max(10, args.requests // 10))]
    with db.unit_of_work(TENANT) as uow:
        districts = len(views.counts_by_district(uow, directory, campaign_id).districts)
        total = views.counts_by_district(uow, directory, campaign_id).total
    db.dispose()
    print(
        json.dumps(
            {
                "dashboard_p95_ms": round(_percentile(warm, 0.95), 2),
                "dashboard_p50_ms": round(_percentile(warm, 0.50), 2),
                "cold_p95_ms": round(_percentile(cold, 0.95), 2),
                "timeline_p95_ms": round(_percentile(curve, 0.95), 2),
                "requests": len(warm),
                "residents": present,
                "reports": args.reports,
                "confirmed_residents": total.residents - total.unconfirmed,
                "districts": districts,
                "fill_seconds": round(fill_seconds, 1),
                "reports_fill_seconds": round(reports_seconds, 1),
                "database": url.split(":", 1)[0],
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
