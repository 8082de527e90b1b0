"""Benchmark: bootstrap a new replica of a tenant of N residents (default 1,000,000).

    python bench/bootstrap.py [--count N] [--cache FILE] [--seed S]

Set-up (not measured): a primary's SQLite database with the tenant and N synthetic
residents, made through the ordinary CSV import (`--cache FILE` keeps it for the next
run). Then two site nodes start as processes on loopback — the primary with that
database, a new replica with an empty one — and the replica is placed: the primary
streams it a consistent snapshot (NDJSON over HTTP, loaded in one transaction) and
then the log's tail. Measured: from the placement until the replica has applied the
primary's seq. The last line is one JSON object: rows, seconds, rows_per_second, and
more. Target (issue 5): 1,000,000 residents in ≤ 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from _sites import Sites, peer_urls, serve_node, write_config

TENANT, TENANT_NAME = "041009", "仙台市"
PRIMARY, REPLICA = "bench-primary", "bench-replica"


class FilePlacements:
    """The tenant's placement, read from a JSON file the bench writes (so the bench can
    place the replica while the nodes run); CAS in memory (the primary is its only
    writer here; the sandbox uses etcd)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mine: Any = None

    def _read(self) -> Any:
        from replication.ports import TenantPlacement

        if not self.path.exists():
            return None
        data = json.loads(self.path.read_text())
        stored = TenantPlacement(
            **{**data, "replicas": tuple(data["replicas"]), "in_sync": tuple(data["in_sync"])}
        )
        if self._mine is not None and self._mine.epoch >= stored.epoch:
            return self._mine
        return stored

    def placement(self, tenant: str) -> Any:
        placement = self._read()
        return placement if placement is not None and placement.tenant == tenant else None

    def placements(self) -> Mapping[str, Any]:
        placement = self._read()
        return {placement.tenant: placement} if placement is not None else {}

    async def shrink_isr(self, tenant: str, remove: Collection[str], expected_epoch: int) -> Any:
        current = self._read()
        return self._cas(
            current, tuple(r for r in current.in_sync if r not in remove), expected_epoch
        )

    async def expand_isr(self, tenant: str, add: Collection[str], expected_epoch: int) -> Any:
        current = self._read()
        in_sync = tuple(r for r in current.replicas if r in current.in_sync or r in add)
        return self._cas(current, in_sync, expected_epoch)

    def _cas(self, current: Any, in_sync: tuple[str, ...], expected_epoch: int) -> Any:
        from replication.ports import IsrChange

        if current.epoch != expected_epoch:
            return IsrChange(False, current)
        self._mine = replace(current, in_sync=in_sync, epoch=current.epoch + 1)
        return IsrChange(True, self._mine)


def place(path: Path, replicas: tuple[str, ...], epoch: int) -> None:
    data = {
        "tenant": TENANT,
        "primary": PRIMARY,
        "replicas": list(replicas),
        "in_sync": [],
        "mode": "sync",
        "min_insync": 0,
        "epoch": epoch,
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    temporary.replace(path)


def run_node(config_path: str, name: str) -> None:
    """Child: one site node (uvicorn) with replication, placements from the file."""
    config = json.loads(Path(config_path).read_text())
    serve_node(
        config_path,
        name,
        placements=FilePlacements(Path(config["placement"])),
        replication={"upkeep_seconds": 0.2, "snapshot_over": config["snapshot_over"]},
        log_level="INFO",
    )


def _populate(url: str, count: int, seed: int) -> None:
    from assembly.schema import SCHEMA_HISTORY
    from residents.demo.service import generate
    from yui.db.database import Database
    from yui.tenancy.service import create_tenant

    db = Database(url)
    db.migrate(SCHEMA_HISTORY)
    create_tenant(db, TENANT, TENANT_NAME)
    result = generate(db, TENANT, count, seed=seed, actor="bench")
    if not result.report.committed:
        raise SystemExit(f"the import was not committed: {result.report}")
    db.dispose()


def _copy_state(url: str) -> dict[str, int]:
    """(head, applied) of the tenant at a database, and its resident rows."""
    from sqlalchemy import func, select

    from replication.sql import reading
    from replication.state import read
    from residents.registry.models import Resident
    from yui.db.database import Database

    db = Database(url)
    try:
        with reading(db.engine) as connection:
            state = read(connection, TENANT)
            residents = connection.execute(
                select(func.count())
                .select_from(Resident.__table__)
                .where(Resident.__table__.c.tenant_id == TENANT)
            ).scalar_one()
        return {"head": state.head, "applied": state.applied_seq, "residents": int(residents)}
    finally:
        db.dispose()


async def _replica_seq(config: dict[str, Any], seq: int, limit: float) -> float:
    """Poll the replica's signed status until it applied ``seq``; the time it took."""
    import httpx

    from replication.ports import StaticPeers
    from replication.protocol.client import PeerClient, PeerError
    from replication.protocol.signing import load_site_key

    keys = Path(config["keys"])
    peers = StaticPeers(peer_urls(config))
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = PeerClient(load_site_key(PRIMARY, keys / f"{PRIMARY}.pem"), peers, http)
        while time.perf_counter() - started < limit:
            try:
                status = await client.status(REPLICA, TENANT)
                if status.applied_seq >= seq:
                    return time.perf_counter() - started
            except (PeerError, httpx.HTTPError):
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the replica did not reach seq {seq} within {limit} s")


def main() -> None:
    from replication.primary.config import ReplicationConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, help="keep the generated primary database here")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--snapshot-over",
        type=int,
        default=ReplicationConfig().snapshot_over,
        help="entries behind above which a replica is reseeded by snapshot (the node's default)",
    )
    parser.add_argument("--node", nargs=2, metavar=("CONFIG", "SITE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.node:
        run_node(*args.node)
        return

    with tempfile.TemporaryDirectory(prefix="yui-bench-bootstrap-") as temp:
        root = Path(temp)
        primary_db = root / "primary.db"
        began = time.perf_counter()
        if args.cache is not None and args.cache.exists():
            shutil.copyfile(args.cache, primary_db)
        else:
            _populate(f"sqlite:///{primary_db}", args.count, args.seed)
            if args.cache is not None:
                shutil.copyfile(primary_db, args.cache)
        prepared = time.perf_counter() - began
        before = _copy_state(f"sqlite:///{primary_db}")

        placement = root / "placement.json"
        place(placement, (), 1)
        databases = {
            PRIMARY: f"sqlite:///{primary_db}",
            REPLICA: f"sqlite:///{root / 'replica.db'}",
        }
        config_path = write_config(
            root,
            (PRIMARY, REPLICA),
            databases.__getitem__,
            placement=str(placement),
            snapshot_over=args.snapshot_over,
        )
        with Sites(__file__, config_path) as sites:
            place(placement, (REPLICA,), 2)  # the new replica: measured from here
            seconds = asyncio.run(_replica_seq(sites.config, before["head"], args.timeout))
        after = _copy_state(f"sqlite:///{root / 'replica.db'}")
        log = (root / f"{PRIMARY}.log").read_text(errors="replace")
        result = {
            "rows": after["residents"],
            "seconds": round(seconds, 2),
            "rows_per_second": round(after["residents"] / seconds),
            "seq": before["head"],
            "snapshot": "snapshot at seq" in log,
            "primary_residents": before["residents"],
            "prepare_seconds": round(prepared, 1),
            "database": "sqlite",
            "cpus": os.cpu_count(),
            "load_average": [round(value, 2) for value in os.getloadavg()],
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
