"""Benchmark: safety reports submitted through all three sandbox sites at once, replicated
(issue 15).

    python bench/reports.py [--seconds 20] [--clients 24] [--residents 2000] [--root DIR]

Starts its own sandbox (three sites, real etcd, the two demo municipalities with their
primaries where the placement policy puts them, synchronous replication to the replicas),
plain HTTP (as bench/failover.py: its clients speak http://). Each municipality gets a
staff account and a live campaign. Then ``--clients`` keep-alive clients in a closed loop
POST /safety/campaigns/{id}/reports, each client bound to one site (spread evenly over
the three), each report for a random resident of a random municipality: a site that is
not the municipality's primary forwards it, and the 201 comes after the in-sync replicas
hold it. Each report is the whole write: the report, its audit entry, the resident's
current status, the counts and the changes over time. After the run the replicas are
checked to hold every acknowledged report. The last line is one JSON object with
`reports_per_second` and `p99_ms`. Target: ≥ 500 reports/s with p99 ≤ 100 ms.

    python bench/reports.py --in-process 300 [--db URL] [--residents 2000]

measures one report's own work instead, in this process without HTTP or replication:
the service's write as the route makes it (the resident's lookup through the port, the
report's unit of work, its commit), one report after another. On a shared machine its
wall-clock times move with the load; what does not is the CPU per report (this
process's user + system time over the reports), the commits per report and the
change-log entries per report, which the last line's JSON gives.
"""

# ruff: noqa: E402 - the path is mended before the imports

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/reports.py`, this file's folder comes first on the path: take it off
# (bench/failover.py would hide the `failover` package).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import secrets
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from assembly.sandbox.demo import seed
from assembly.sandbox.runner import Sandbox
from residents.registry.models import Resident
from safety_check.reports.models import Report
from yui.auth import service as auth
from yui.db.database import Database

#: failures by HTTP status (or the client error's name)
Counter_t = dict[str, int]
STATUSES = ("safe", "safe", "safe", "at_shelter", "injured", "needs_help", "information_sought")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _staff(db: Database, tenant: str) -> str:
    password = secrets.token_urlsafe(16)
    with db.unit_of_work(tenant) as uow:
        auth.create_user(
            uow.session,
            username="bench-staff",
            password=password,
            roles=["staff"],
            display_name="bench",
            actor="bench",
        )
        uow.commit()
    return password


def _residents(db: Database, tenant: str) -> list[str]:
    with db.unit_of_work(tenant, read_only=True) as uow:
        return list(uow.session.execute(select(Resident.id)).scalars())


async def _until_ok(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
    """The sites learn the placements from etcd a moment after they are written."""
    deadline = time.monotonic() + 60
    while True:
        response = await client.request(method, url, **kwargs)
        if response.status_code < 300 or time.monotonic() > deadline:
            response.raise_for_status()
            return response.json()
        await asyncio.sleep(0.5)


async def _prepare(
    sites: list[str], tenants: dict[str, tuple[str, list[str]]]
) -> dict[str, dict[str, Any]]:
    """Sign in and open a campaign per municipality; their ids and tokens."""
    prepared = {}
    async with httpx.AsyncClient(base_url=sites[0], timeout=30) as client:
        for code, (password, residents) in tenants.items():
            token = await _until_ok(
                client,
                "POST",
                f"/api/v1/{code}/auth/token",
                json={"username": "bench-staff", "password": password},
            )
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            campaign = await _until_ok(
                client,
                "POST",
                f"/api/v1/{code}/safety/campaigns",
                json={"title": "bench reports", "kind": "live"},
                headers=headers,
            )
            prepared[code] = {
                "headers": headers,
                "campaign": campaign["id"],
                "residents": residents,
            }
    return prepared


async def _load(
    sites: list[str], prepared: dict[str, dict[str, Any]], clients: int, seconds: float
) -> tuple[list[float], dict[str, list[str]], Counter_t]:
    latencies: list[float] = []
    acknowledged: dict[str, list[str]] = {code: [] for code in prepared}
    failures: Counter_t = {}
    stop = time.monotonic() + seconds
    codes = list(prepared)

    async def client_loop(index: int) -> None:
        rng = random.Random(index)
        base = sites[index % len(sites)]
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.monotonic() < stop:
                code = rng.choice(codes)
                tenant = prepared[code]
                body = {
                    "id": str(uuid.uuid4()),
                    "resident_id": rng.choice(tenant["residents"]),
                    "status": rng.choice(STATUSES),
                    "reported_at": datetime.now(UTC).isoformat(),
                    "reporter_kind": "staff_call",
                    "note": "電話で確認",
                }
                began = time.perf_counter()
                try:
                    response = await client.post(
                        f"/api/v1/{code}/safety/campaigns/{tenant['campaign']}/reports",
                        json=body,
                        headers=tenant["headers"],
                    )
                    status = response.status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__  # type: ignore[assignment]
                elapsed = (time.perf_counter() - began) * 1000
                if status == 201:
                    latencies.append(elapsed)
                    acknowledged[code].append(body["id"])
                else:
                    failures[str(status)] = failures.get(str(status), 0) + 1
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(client_loop(index) for index in range(clients)))
    return latencies, acknowledged, failures


def in_process(
    count: int, residents: int, url: str | None, *, count_calls: bool = False
) -> dict[str, Any]:
    """`count` reports recorded one after another as the route records them; with
    `count_calls`, under cProfile, whose count of Python calls per report the load does
    not change (its times are not the CPU figure then: profiling slows every call)."""
    calls = 0
    from sqlalchemy import event

    from assembly.schema import SCHEMA_HISTORY
    from assembly.site import all_metadata
    from residents.demo.service import generate
    from residents.directory.service import Directory
    from safety_check.campaigns import service as campaigns
    from safety_check.campaigns.schemas import CampaignIn
    from safety_check.reports import service
    from safety_check.reports.schemas import ReportIn
    from yui.changelog.models import ChangeLogEntry
    from yui.service_ports import Audience
    from yui.tenancy.service import create_tenant

    tenant = "041009"
    all_metadata()
    with tempfile.TemporaryDirectory(prefix="yui-bench-reports-") as folder:
        db = Database(url or f"sqlite:///{Path(folder) / 'reports.db'}")
        try:
            db.migrate(SCHEMA_HISTORY)
            create_tenant(db, tenant, "仙台市")
            generate(db, tenant, residents, seed=1, actor="bench")
            people = _residents(db, tenant)
            with db.unit_of_work(tenant) as uow:
                campaign = campaigns.open_campaign(
                    uow.session, CampaignIn(title="bench reports"), actor="bench"
                )
                uow.commit()
            directory = Directory(db)
            counted = {"commits": 0, "statements": 0}

            def counter(what: str) -> Any:
                return lambda *_: counted.__setitem__(what, counted[what] + 1)

            event.listen(db.engine, "commit", counter("commits"))
            event.listen(db.engine, "before_cursor_execute", counter("statements"))

            def entries() -> int:
                with db.unit_of_work(tenant, read_only=True) as uow:
                    return int(
                        uow.session.execute(
                            select(func.count()).select_from(ChangeLogEntry)
                        ).scalar_one()
                    )

            rng = random.Random(1)
            logged_before = entries()
            counted.update(commits=0, statements=0)
            latencies: list[float] = []
            profile = cProfile.Profile() if count_calls else None
            if profile is not None:
                profile.enable()
            cpu_before = time.process_time()
            for _ in range(count):
                body = ReportIn(
                    id=str(uuid.uuid4()),
                    resident_id=rng.choice(people),
                    status=rng.choice(STATUSES),
                    reported_at=datetime.now(UTC),
                    reporter_kind="staff_call",
                    note="電話で確認",
                )
                began = time.perf_counter()
                with db.unit_of_work(tenant) as uow:
                    service.record(
                        uow,
                        directory,
                        campaign.id,
                        body,
                        actor="bench-staff",
                        audience=Audience.STAFF,
                        may_record_death=True,
                    )
                    uow.commit()
                latencies.append((time.perf_counter() - began) * 1000)
            cpu = time.process_time() - cpu_before
            if profile is not None:
                profile.disable()
                calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
            made = dict(counted)
            logged = entries() - logged_before
        finally:
            db.dispose()
    return {
        "reports": count,
        "cpu_ms_per_report": round(cpu / count * 1000, 2),
        "commits_per_report": round(made["commits"] / count, 2),
        "statements_per_report": round(made["statements"] / count, 2),
        **({"python_calls_per_report": round(calls / count)} if count_calls else {}),
        "change_log_entries_per_report": round(logged / count, 2),
        "p50_ms": round(_percentile(latencies, 0.50), 1),
        "p95_ms": round(_percentile(latencies, 0.95), 1),
        "database": "postgresql" if url and url.startswith("postgresql") else "sqlite",
        "residents": residents,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--residents", type=int, default=2000, help="per municipality")
    parser.add_argument("--root", type=Path, help="the sandbox's folder (default: temporary)")
    parser.add_argument("--first-port", type=int, default=8601)
    parser.add_argument(
        "--in-process", type=int, metavar="N", help="N reports in this process (no sandbox)"
    )
    parser.add_argument("--db", help="with --in-process: a database URL (default: SQLite)")
    parser.add_argument(
        "--count-calls",
        action="store_true",
        help="with --in-process: count Python calls per report (cProfile; not for timing)",
    )
    args = parser.parse_args()
    if args.in_process:
        print(
            json.dumps(
                in_process(args.in_process, args.residents, args.db, count_calls=args.count_calls)
            )
        )
        return

    with tempfile.TemporaryDirectory(prefix="yui-bench-reports-") as folder:
        box = Sandbox(args.root or Path(folder) / "sandbox")
        plan = box.up(first_node_port=args.first_port, tls=False)
        try:
            made = seed(plan, residents=args.residents)
            tenants = {}
            for demo in made:
                db = Database(plan.database_url(demo.placement.primary))
                try:
                    tenants[demo.code] = (_staff(db, demo.code), _residents(db, demo.code))
                finally:
                    db.dispose()
            sites = [site.url for site in plan.sites]
            prepared = asyncio.run(_prepare(sites, tenants))
            began = time.monotonic()
            latencies, acknowledged, failures = asyncio.run(
                _load(sites, prepared, args.clients, args.seconds)
            )
            elapsed = time.monotonic() - began
            time.sleep(2)  # let the asynchronous replicas (if any) catch up
            missing = 0
            for demo in made:
                ids = set(acknowledged[demo.code])
                for site in (demo.placement.primary, *demo.placement.replicas):
                    db = Database(plan.database_url(site))
                    try:
                        with db.unit_of_work(demo.code, read_only=True) as uow:
                            held = uow.session.execute(
                                select(func.count())
                                .select_from(Report)
                                .where(Report.campaign_id == prepared[demo.code]["campaign"])
                            ).scalar_one()
                        missing += max(len(ids) - held, 0)
                    finally:
                        db.dispose()
            placements = {
                demo.code: [demo.placement.primary, *demo.placement.replicas] for demo in made
            }
        finally:
            box.down()
    ok = len(latencies)
    print(
        json.dumps(
            {
                "reports_per_second": round(ok / elapsed, 1),
                "p99_ms": round(_percentile(latencies, 0.99), 1) if latencies else None,
                "p50_ms": round(_percentile(latencies, 0.50), 1) if latencies else None,
                "mean_ms": round(statistics.mean(latencies), 1) if latencies else None,
                "reports": ok,
                "failures": failures,
                "missing_at_replicas": missing,
                "seconds": round(elapsed, 1),
                "clients": args.clients,
                "sites": len(plan.sites),
                "placements": placements,
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
