"""Writer threads of one process committing to one SQLite file (issue 11, the ingest p99).

    python bench/sqlite_writers.py [--threads 4] [--commits 150] [--without-line]

Each thread commits --commits single-row transactions (~400 bytes, a safety report's
size) through yui.db.engine (WAL, synchronous=FULL, BEGIN IMMEDIATE), pausing 2 ms
between them as a request path would. The last line is one JSON object: commits_per_s,
p50_ms, p99_ms, max_ms (each commit from BEGIN to the end of COMMIT, the wait for the
lock included) and cpu_ms_per_commit (the process's user + system CPU).

--without-line measures what a site did before the writers of a process waited in line
(yui.db.engine.QueuedWriter): the plain sqlite3 connection, whose busy handler polls a
locked database with growing sleeps.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

from yui.db import engine as engines

ROW = "家族全員無事です。" * 15  # ~400 bytes of UTF-8


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--commits", type=int, default=150, help="per thread")
    parser.add_argument("--without-line", action="store_true")
    args = parser.parse_args()
    if args.without_line:  # every file gets the plain connection class
        engines._queue_of = lambda _path: sqlite3.Connection  # type: ignore[assignment,return-value]
    with tempfile.TemporaryDirectory(prefix="yui-bench-writers-") as temp:
        engine = engines.make_engine(f"sqlite:///{Path(temp) / 'writers.db'}")
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE reports (writer INTEGER, body TEXT)")
        latencies: list[float] = []

        def write(writer: int) -> None:
            for _ in range(args.commits):
                started = time.perf_counter()
                with engine.begin() as connection:
                    connection.exec_driver_sql("INSERT INTO reports VALUES (?, ?)", (writer, ROW))
                latencies.append(time.perf_counter() - started)
                time.sleep(0.002)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(args.threads)]
        cpu, wall = time.process_time(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        engine.dispose()
    latencies.sort()
    print(
        json.dumps(
            {
                "line": not args.without_line,
                "threads": args.threads,
                "commits": len(latencies),
                "commits_per_s": round(len(latencies) / wall, 1),
                "p50_ms": round(statistics.median(latencies) * 1000, 2),
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
                "max_ms": round(latencies[-1] * 1000, 1),
                "cpu_ms_per_commit": round(cpu * 1000 / len(latencies), 3),
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
