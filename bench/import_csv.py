"""Benchmark: import a resident CSV of N rows (default 1,000,000) into a fresh tenant.

    python bench/import_csv.py [--count N] [--db URL] [--seed S]

Generates the file with the demo generator (Faker ja_JP, deterministic), then runs
the import in a fresh process — the code path of `yui residents import`, with its
CSV parser process — and measures it from the first byte read to the commit. The
last line printed is one JSON object: rows, seconds, rows_per_second, peak_rss_mb
(the importing process plus its parser process, both at their peak), and more.
Target (issue 3): 1,000,000 rows in ≤ 60 s on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _sites  # noqa: F401 - bench/failover.py must not shadow the failover package

TENANT = "041009"


def _import(path: str, url: str) -> None:
    """Child: import `path` into `url` and print what was measured (one JSON line)."""
    from assembly.schema import SCHEMA_HISTORY
    from residents.csvio.importer import import_file
    from yui.db.database import Database
    from yui.tenancy.service import create_tenant

    db = Database(url)
    db.migrate(SCHEMA_HISTORY)
    create_tenant(db, TENANT, "仙台市")
    started = time.perf_counter()
    report = import_file(db, TENANT, Path(path), actor="bench")
    seconds = time.perf_counter() - started
    db.dispose()
    print(
        json.dumps(
            {
                "rows": report.imported,
                "committed": report.committed,
                "rejected": report.rejected,
                "seconds": round(seconds, 2),
                "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "parser_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
                ),
                # CPU seconds (user + system), set-up included: steadier than the wall clock
                # on a shared machine
                "cpu_s": round(_cpu(resource.RUSAGE_SELF), 1),
                "parser_cpu_s": round(_cpu(resource.RUSAGE_CHILDREN), 1),
            }
        )
    )


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--db", default="", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("CSV", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _import(*args.child)
        return

    from residents.demo.service import write_csv

    with tempfile.TemporaryDirectory(prefix="yui-bench-import-") as directory:
        csv_path = Path(directory) / "residents.csv"
        began = time.perf_counter()
        with csv_path.open("wb") as stream:
            write_csv(stream, TENANT, args.count, seed=args.seed)
        generated = time.perf_counter() - began
        url = args.db or f"sqlite:///{Path(directory) / 'bench.db'}"
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(csv_path), url],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        result = {
            "rows": measured["rows"],
            "seconds": measured["seconds"],
            "rows_per_second": round(measured["rows"] / measured["seconds"]),
            "peak_rss_mb": round(measured["rss_mb"] + measured["parser_rss_mb"], 1),
            "import_process_rss_mb": measured["rss_mb"],
            "parser_process_rss_mb": measured["parser_rss_mb"],
            "committed": measured["committed"],
            "import_process_cpu_s": measured.get("cpu_s"),
            "parser_process_cpu_s": measured.get("parser_cpu_s"),
            "file_mb": round(csv_path.stat().st_size / 1024**2, 1),
            "generate_seconds": round(generated, 1),
            "database": url.split(":", 1)[0],
            "cpus": os.cpu_count(),
            "load_average": [round(value, 2) for value in os.getloadavg()],
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
