"""Benchmark: back up a tenant of N residents (default 1,000,000) and restore it.

    python bench/backup.py [--count N] [--seed S] [--keep DIR] [--snapshot-only]

With ``--keep DIR`` the tenant built there by an earlier run of the same count and seed
is used again (the build of 1,000,000 residents takes most of the run's time). With
``--snapshot-only`` the log is not archived (a restore does not need the log before its
snapshot): ``backup_seconds`` is then the snapshot's alone.

Builds the tenant as `bench/import_csv.py` does (the demo generator's CSV, imported by
the code path of `yui residents import`), starts an S3 endpoint (moto's server, its own
process) and measures, from this process:

- ``backup_seconds``: what `yui backup create` does (`create_backup`): the change log
  since the last backup (here: all of it, the import's log) and a snapshot of the rows,
  each sealed (AES-256-GCM) and uploaded, the manifests last; ``log_archive_seconds``
  and ``snapshot_seconds`` are its two parts;
- ``restore_seconds``: `restore` into a fresh SQLite database — every object downloaded
  and checked first, the snapshot loaded in one transaction, then the log after it —
  and the restored copy's digest compared with the source's (``digests_equal``);
  ``restore_cpu_seconds`` is this process's CPU time during it (all threads).

The last line printed is one JSON object with both and more. Target (issue 13): restore
≤ 120 s for 1,000,000 residents on this machine. Not part of `make test`.
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
import urllib.request
from pathlib import Path

import _sites  # noqa: F401 - bench/failover.py must not shadow the failover package

TENANT = "041009"


def _s3(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keep",
        default="",
        help="work in this folder and leave it there; a tenant built there before is reused",
    )
    parser.add_argument(
        "--snapshot-only", action="store_true", help="back up the snapshot, not the log"
    )
    args = parser.parse_args()

    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)

    from assembly.sandbox.etcd import free_ports
    from assembly.schema import SCHEMA_HISTORY
    from replication.backup.archive import backup_log, backup_snapshot, restore
    from replication.backup.crypto import MasterKey
    from replication.backup.store import Bucket, Target
    from replication.verify.digest import tenant_digest
    from residents.csvio.importer import import_file
    from residents.demo.service import write_csv
    from yui.db.database import Database
    from yui.tenancy.service import create_tenant

    with tempfile.TemporaryDirectory(prefix="yui-bench-backup-") as scratch:
        folder = Path(args.keep or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / "residents.csv"
        # Written once the build finished: a half-built source is never reused.
        built_marker = folder / "source.json"
        wanted = {"count": args.count, "seed": args.seed}
        began = time.perf_counter()
        source = Database(f"sqlite:///{folder / 'source.db'}")
        if built_marker.exists() and json.loads(built_marker.read_text())["build"] == wanted:
            imported = int(json.loads(built_marker.read_text())["imported"])
            source.migrate(SCHEMA_HISTORY)  # the schema may have moved on since it was built
        else:
            built_marker.unlink(missing_ok=True)
            source.dispose()
            (folder / "source.db").unlink(missing_ok=True)
            source = Database(f"sqlite:///{folder / 'source.db'}")
            with csv_path.open("wb") as stream:
                write_csv(stream, TENANT, args.count, seed=args.seed)
            source.migrate(SCHEMA_HISTORY)
            create_tenant(source, TENANT, "仙台市")
            imported = import_file(source, TENANT, csv_path, actor="bench").imported
            built_marker.write_text(json.dumps({"build": wanted, "imported": imported}))
        built = time.perf_counter() - began

        (port,) = free_ports(1)
        s3 = _s3(port)
        try:
            bucket = Bucket(Target(f"http://127.0.0.1:{port}", "bench-backups"))
            master = MasterKey(b"b" * 32)
            # What `create_backup` does, the two parts timed apart.
            started = time.perf_counter()
            log_segment = (
                None
                if args.snapshot_only
                else backup_log(source, TENANT, master, [bucket], "bench", 0)
            )
            log_seconds = time.perf_counter() - started
            snapshot = backup_snapshot(source, TENANT, master, [bucket], "bench")
            backup_seconds = time.perf_counter() - started
            made = [m for m in (log_segment, snapshot) if m is not None]

            for leftover in folder.glob("restored.db*"):
                leftover.unlink()
            target = Database(f"sqlite:///{folder / 'restored.db'}")
            target.migrate(SCHEMA_HISTORY)
            started, cpu_before = time.perf_counter(), _cpu_seconds()
            restored = restore(bucket, master, TENANT, target)
            restore_seconds = time.perf_counter() - started
            restore_cpu = _cpu_seconds() - cpu_before
            equal = tenant_digest(target, TENANT).digest == tenant_digest(source, TENANT).digest
            target.dispose()
        finally:
            s3.terminate()
            s3.wait(10)
        source.dispose()
        print(
            json.dumps(
                {
                    "residents": imported,
                    "seq": restored.seq,
                    "objects": {m.kind: m.size for m in made},
                    "backup_mb": round(sum(m.size for m in made) / 1024**2, 1),
                    "build_seconds": round(built, 1),
                    "log_archive_seconds": round(log_seconds, 1),
                    "snapshot_seconds": round(backup_seconds - log_seconds, 1),
                    "digests_equal": equal,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    "cpus": os.cpu_count(),
                    "load_average": [round(value, 2) for value in os.getloadavg()],
                    "backup_seconds": round(backup_seconds, 1),
                    # this process's CPU (all its threads): on a shared machine it moves
                    # less with the load than the seconds do
                    "restore_cpu_seconds": round(restore_cpu, 1),
                    "restore_seconds": round(restore_seconds, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
