"""Ingest throughput with and without sync replication (issue 5, "Performance").

    python bench/ingest.py [--seconds 10] [--clients 4] [--postgres URL] [--tls]

(a) one site node, replication off; (b) three site nodes on loopback, the tenant's
primary replicating in sync mode to two replicas. Each node is its own process
(uvicorn, SQLite by default); the load is safety-report-sized inserts through the HTTP
API from a closed loop of keep-alive clients in this process. The last line is one JSON
object: unreplicated_rps, replicated_rps, ratio, replicated_p99_ms (and more).
With --tls every connection (the clients' and the sites' to each other) is HTTPS with
the sandbox's kind of private CA and per-site certificates (yui.tls): its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from _sites import Sites, include_among_services, serve_node, tls_files, write_config
from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime
from yui.http.deps import Tenant, UoW

TENANT, TENANT_NAME = "041009", "仙台市"
SITES = ("bench-a", "bench-b", "bench-c")


# --------------------------------------------------------------------------- the write


class BenchReport(TenantScoped, Base):
    """A safety report's shape (安否報告): who, how they are, where, a message."""

    __tablename__ = "bench_safety_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    resident_ref: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    message: Mapped[str] = mapped_column(String(400), nullable=False)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ReportIn(BaseModel):
    id: uuid.UUID
    resident_ref: str = Field(max_length=40)
    status: Literal["safe", "injured", "need_help"]
    message: str = Field(max_length=400)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    reported_at: datetime


router = APIRouter()


@router.post("/api/v1/{tenant}/bench/reports", status_code=status.HTTP_201_CREATED)
def report(body: ReportIn, tenant: Tenant, uow: UoW) -> dict[str, str]:
    uow.session.add(
        BenchReport(
            id=str(body.id),
            tenant_id=tenant,
            resident_ref=body.resident_ref,
            status=body.status,
            message=body.message,
            latitude=body.latitude,
            longitude=body.longitude,
            reported_at=body.reported_at,
            received_at=datetime.now(UTC),
        )
    )
    uow.commit()
    return {"id": str(body.id)}


# --------------------------------------------------------------------------- a node


class StaticPlacements:
    """The placement of the bench's tenant, with compare-and-swap in memory (the primary
    is the only writer of it here; the sandbox uses etcd)."""

    def __init__(self, placement: Any) -> None:
        self._placement = placement

    def placement(self, tenant: str) -> Any:
        return self._placement if tenant == self._placement.tenant else None

    def placements(self) -> Mapping[str, Any]:
        return {self._placement.tenant: self._placement}

    async def shrink_isr(self, tenant: str, remove: Collection[str], expected_epoch: int) -> Any:
        return self._cas(
            tuple(r for r in self._placement.in_sync if r not in remove), expected_epoch
        )

    async def expand_isr(self, tenant: str, add: Collection[str], expected_epoch: int) -> Any:
        in_sync = tuple(
            r for r in self._placement.replicas if r in self._placement.in_sync or r in add
        )
        return self._cas(in_sync, expected_epoch)

    def _cas(self, in_sync: tuple[str, ...], expected_epoch: int) -> Any:
        from replication.ports import IsrChange

        if expected_epoch != self._placement.epoch:
            return IsrChange(False, self._placement)
        self._placement = replace(self._placement, in_sync=in_sync, epoch=self._placement.epoch + 1)
        return IsrChange(True, self._placement)


def run_node(config_path: str, name: str) -> None:
    from replication.ports import TenantPlacement
    from yui.tenancy.service import create_tenant

    config = json.loads(Path(config_path).read_text())
    placement = TenantPlacement(
        tenant=TENANT,
        primary=SITES[0],
        replicas=tuple(SITES[1:]),
        in_sync=tuple(SITES[1:]),
        mode="sync",
        min_insync=1,
        epoch=1,
    )

    def prepare(db: Any) -> None:
        BenchReport.__table__.create(db.engine, checkfirst=True)
        if name == SITES[0]:
            create_tenant(db, TENANT, TENANT_NAME)

    serve_node(
        config_path,
        name,
        placements=StaticPlacements(placement),
        replicate=config["replicate"],
        replication={"ack_timeout": 2.0},
        prepare=prepare,
        customize=(
            (lambda app: app.include_router(router))
            if config.get("route_last")
            else (lambda app: include_among_services(app, router))
        ),
    )


# --------------------------------------------------------------------------- the load


def _request(port: int) -> bytes:
    body = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "resident_ref": f"R{random.randrange(10**9):09d}",
            "status": random.choice(["safe", "safe", "safe", "injured", "need_help"]),
            "message": "家族全員無事です。自宅は一部損壊、近くの小学校に避難しています。水と毛布が不足。",
            "latitude": 38.26 + random.random() / 100,
            "longitude": 140.87 + random.random() / 100,
            "reported_at": datetime.now(UTC).isoformat(),
        },
        ensure_ascii=False,
    ).encode()
    head = (
        f"POST /api/v1/{TENANT}/bench/reports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(
    port: int,
    until: float,
    measure_from: float,
    latencies: list[float],
    failures: list[int],
    warmup: list[int],
    tls: ssl.SSLContext | None,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    try:
        while (now := time.perf_counter()) < until:
            writer.write(_request(port))
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            code = int(status_line.split()[1])
            if now >= measure_from:
                if code == 201:
                    latencies.append(time.perf_counter() - now)
                else:
                    failures.append(code)
            else:
                warmup.append(code)
    finally:
        writer.close()


async def _load(
    port: int,
    clients: int,
    warmup: float,
    seconds: float,
    tls: ssl.SSLContext | None = None,
    cpu: Callable[[], dict[str, float]] | None = None,
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The load's figures, and ``cpu()`` read when the measured time starts and ends."""
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + seconds
    latencies: list[float] = []
    failures: list[int] = []
    warmup_codes: list[int] = []
    cpu_marks: list[dict[str, float]] = []

    async def mark_cpu(moment: float) -> None:
        await asyncio.sleep(max(0.0, moment - time.perf_counter()))
        if cpu is not None:
            cpu_marks.append(cpu())

    await asyncio.gather(
        *(
            _client(port, until, measure_from, latencies, failures, warmup_codes, tls)
            for _ in range(clients)
        ),
        mark_cpu(measure_from),
        mark_cpu(until),
    )
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    figures = {
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": p99 * 1000,
        "requests": len(latencies),
        "failures": len(failures),
        "warmup_requests": sum(1 for code in warmup_codes if code == 201),
    }
    return figures, cpu_marks


# --------------------------------------------------------------------------- the runs


def _run(
    root: Path, replicate: bool, names: tuple[str, ...], args: argparse.Namespace
) -> dict[str, float]:
    root.mkdir(parents=True)
    config = write_config(
        root,
        names,
        lambda name: args.database(root, name),
        replicate=replicate,
        tls=args.tls,
        route_last=args.route_last,
    )
    with Sites(__file__, config) as sites:
        port = sites.ports[0]
        operator = tls_files(sites.config, "operator")
        context = operator.client_context() if operator else None
        result, (before, after) = asyncio.run(
            _load(port, args.clients, args.warmup, args.seconds, context, sites.cpu_seconds)
        )
    # CPU per acknowledged write over the measured time only: the warm-up carries one-off
    # costs (a node's first request builds FastAPI's route tables: ~0.2-0.4 s of CPU)
    for name in names:
        result[f"cpu_ms_per_write_{name}"] = (
            (after[name] - before[name]) * 1000 / max(result["requests"], 1)
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--node", nargs=2, metavar=("CONFIG", "SITE"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a database per site is made)")
    parser.add_argument("--tls", action="store_true", help="HTTPS everywhere (its cost)")
    parser.add_argument(
        "--route-last",
        action="store_true",
        help="the bench's route after every other (the console's too), as before 2026-12-07",
    )
    args = parser.parse_args()
    if args.node:
        run_node(*args.node)
        return
    args.database = _database_factory(args.postgres)
    with tempfile.TemporaryDirectory(prefix="yui-bench-ingest-") as temp:
        root = Path(temp)
        plain = _run(root / "a", False, SITES[:1], args)
        print(f"(a) one site, no replication: {json.dumps(plain)}", file=sys.stderr)
        replicated = _run(root / "b", True, SITES, args)
        print(f"(b) sync to two replicas:     {json.dumps(replicated)}", file=sys.stderr)
    print(
        json.dumps(
            {
                "unreplicated_rps": round(plain["rps"], 1),
                "replicated_rps": round(replicated["rps"], 1),
                "ratio": round(replicated["rps"] / plain["rps"], 3),
                "replicated_p99_ms": round(replicated["p99_ms"], 1),
                "replicated_p50_ms": round(replicated["p50_ms"], 1),
                "unreplicated_p99_ms": round(plain["p99_ms"], 1),
                "cpu_ms_per_write": {
                    "unreplicated": round(plain[f"cpu_ms_per_write_{SITES[0]}"], 2),
                    "primary": round(replicated[f"cpu_ms_per_write_{SITES[0]}"], 2),
                    "replicas": [
                        round(replicated[f"cpu_ms_per_write_{name}"], 2) for name in SITES[1:]
                    ],
                },
                "clients": args.clients,
                "seconds": args.seconds,
                "failures": plain["failures"] + replicated["failures"],
                "backend": "postgresql" if args.postgres else "sqlite",
                "tls": args.tls,
                "route": "last" if args.route_last else "among the services",
                "cpus": os.cpu_count(),
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


def _database_factory(postgres: str | None) -> Callable[[Path, str], str]:
    def sqlite(root: Path, name: str) -> str:
        return f"sqlite:///{root / name}.db"

    if postgres is None:
        return sqlite
    import sqlalchemy as sa

    def fresh(root: Path, name: str) -> str:
        database = f"yui_bench_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
        admin.dispose()
        return sa.make_url(postgres).set(database=database).render_as_string(hide_password=False)

    return fresh


if __name__ == "__main__":
    main()
