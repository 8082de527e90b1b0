"""Benchmark: the cost of a job's step marker (background jobs, docs/jobs.md).

    python bench/jobs.py [--steps N] [--db URL] [--runs R]

Runs a `demo` job of N steps (no pause; each step writes one audit entry and its
marker in one unit of work, change-logged) through the ordinary runner, R times, and
reports the median time per step. The last line printed is one JSON object with
`steps`, `step_ms_median`, `step_ms_runs` and `steps_per_second`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

TENANT = "041009"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: a new SQLite file)")
    args = parser.parse_args()

    from assembly.schema import SCHEMA_HISTORY
    from assembly.site import all_metadata
    from yui.db.database import Database
    from yui.jobs import service
    from yui.jobs.kinds import DEMO, JobKinds
    from yui.jobs.runner import run_job
    from yui.tenancy.service import create_tenant, list_tenants

    all_metadata()
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(args.db or f"sqlite:///{Path(scratch) / 'jobs.db'}")
        db.migrate(SCHEMA_HISTORY)
        if TENANT not in {t.tenant_id for t in list_tenants(db)}:
            create_tenant(db, TENANT, "仙台市")
        kinds = JobKinds()
        kinds.register(DEMO)
        per_step = []
        for _ in range(args.runs):
            with db.unit_of_work(TENANT) as uow:
                job_id = service.enqueue(uow, TENANT, "demo", {"steps": args.steps}).id
                uow.commit()
            started = time.perf_counter()
            outcome = run_job(db, kinds, TENANT, job_id, site="bench")
            elapsed = time.perf_counter() - started
            assert outcome.state == "done", outcome
            per_step.append(elapsed / args.steps * 1000)
        db.dispose()
    median = statistics.median(per_step)
    print(
        json.dumps(
            {
                "steps": args.steps,
                "step_ms_median": round(median, 2),
                "step_ms_runs": [round(v, 2) for v in per_step],
                "steps_per_second": round(1000 / median, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
