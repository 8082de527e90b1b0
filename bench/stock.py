"""Benchmark: stock levels of 50 depots × 2,000 items over a ledger of 1,000,000 movements.

    python bench/stock.py [--movements N] [--depots D] [--items I] [--db URL] [--queries Q]

Fills a tenant (skipped when the database at --db already holds the ledger): D depots,
I items with two lots each, then N movements written with the kernel's logged bulk
insert (change-logged as `session.add` would be, not through the service one by one,
which would take hours): first a receipt of each lot into each depot, then issues and
transfers between depots that never take a balance below zero. The balances are the
ledger's sums, inserted the same way, and `verify_balances` recomputes them from the
ledger (timed, and it must find no mismatch).

Then Q stock-level reads the way GET /supplies/stock does — one read-only unit of work,
`stock.service.levels` (grouped over the maintained balances, joined to places and
items) and the response body (`stock_levels_json`, as the API writes it): half of them
one depot's whole stock (its ~2,000 items), half one item across every depot. The last
line printed is one JSON object with `stock_p95_ms`. Target (issue 16): ≤ 100 ms.

What the wall time is made of, per read: this process's CPU (`cpu_p95_ms`) and, on Linux,
the time it was runnable but waiting for a core (`runqueue_wait_p50_ms`, from
/proc/self/schedstat); the rest is I/O or other waits.
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
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import _sites  # noqa: F401 - bench/failover.py must not shadow the failover package

TENANT = "041009"
#: rows per bulk insert and per transaction while filling
BATCH = 50_000


def _runqueue_wait_ns() -> int:
    """Nanoseconds this process has spent runnable but not running (Linux; else 0)."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _fill(db: object, depots: int, items: int, movements: int, seed: int) -> float:
    from supplies.catalogue.models import Category, Item
    from supplies.places.models import Place, PlaceKind
    from supplies.stock.models import Lot, Movement, MovementKind, MovementLine, StockBalance
    from yui.changelog.bulk_insert import insert_rows
    from yui.db.database import Database

    assert isinstance(db, Database)
    rng = random.Random(seed)
    began = time.perf_counter()
    now = datetime.now(UTC)
    place_ids = [str(uuid.uuid4()) for _ in range(depots)]
    item_ids = [str(uuid.uuid4()) for _ in range(items)]
    lots = [
        (item_id, str(uuid.uuid4()), date(2028, 1, 1) + timedelta(days=rng.randrange(1500)))
        for item_id in item_ids
        for _ in range(2)
    ]
    with db.unit_of_work(TENANT) as uow:
        insert_rows(
            uow.session,
            Place,
            [
                {
                    "id": place_id,
                    "code": f"D-{n:03d}",
                    "kind": PlaceKind.STOCKPILE.value,
                    "name": f"備蓄倉庫 {n}",
                }
                for n, place_id in enumerate(place_ids)
            ],
        )
        insert_rows(
            uow.session,
            Item,
            [
                {
                    "id": item_id,
                    "code": f"item-{n:05d}",
                    "name_ja": f"品目 {n}",
                    "name_en": f"item {n}",
                    "category": Category.OTHER.value,
                    "unit_ja": "個",
                    "unit_en": "piece",
                }
                for n, item_id in enumerate(item_ids)
            ],
        )
        insert_rows(
            uow.session,
            Lot,
            [
                {"id": lot_id, "item_id": item_id, "expires_on": expires, "created_at": now}
                for item_id, lot_id, expires in lots
            ],
        )
        uow.commit()

    balance: defaultdict[tuple[str, int], int] = defaultdict(int)
    heads: list[dict[str, object]] = []
    lines: list[dict[str, object]] = []

    def flush() -> None:
        with db.unit_of_work(TENANT) as uow:
            insert_rows(uow.session, Movement, heads)
            insert_rows(uow.session, MovementLine, lines)
            uow.commit()
        heads.clear()
        lines.clear()

    def add(kind: MovementKind, moves: list[tuple[str, int, int]], at: datetime) -> None:
        movement_id = str(uuid.uuid4())
        heads.append(
            {
                "id": movement_id,
                "kind": kind.value,
                "occurred_at": at,
                "recorded_at": at,
                "recorded_by": "bench",
            }
        )
        for place_id, lot, quantity in moves:
            item_id, lot_id, _ = lots[lot]
            balance[(place_id, lot)] += quantity
            lines.append(
                {
                    "movement_id": movement_id,
                    "place_id": place_id,
                    "item_id": item_id,
                    "lot_id": lot_id,
                    "quantity": Decimal(quantity),
                }
            )
        if len(heads) >= BATCH:
            flush()

    written = 0
    start = now - timedelta(days=365)
    for place_id in place_ids:  # every lot received into every depot first
        for lot in range(len(lots)):
            if written == movements:
                break
            add(MovementKind.RECEIPT, [(place_id, lot, 100)], start)
            written += 1
    while written < movements:
        place_id, lot = rng.choice(place_ids), rng.randrange(len(lots))
        quantity = rng.randint(1, 5)
        if balance[(place_id, lot)] < quantity:
            add(MovementKind.RECEIPT, [(place_id, lot, 50)], start)
        elif rng.random() < 0.6:
            add(MovementKind.ISSUE, [(place_id, lot, -quantity)], now)
        else:
            target = rng.choice([p for p in place_ids[:5] if p != place_id] or place_ids)
            add(MovementKind.TRANSFER, [(place_id, lot, -quantity), (target, lot, quantity)], now)
        written += 1
    if heads:
        flush()
    rows = [
        {
            "place_id": place_id,
            "item_id": lots[lot][0],
            "lot_id": lots[lot][1],
            "expires_on": lots[lot][2],
            "quantity": Decimal(quantity),
        }
        for (place_id, lot), quantity in balance.items()
    ]
    for offset in range(0, len(rows), BATCH):
        with db.unit_of_work(TENANT) as uow:
            insert_rows(uow.session, StockBalance, rows[offset : offset + BATCH])
            uow.commit()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--depots", type=int, default=50)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--db", default="", help="SQLAlchemy URL (default: a SQLite file in /tmp)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from sqlalchemy import func, select

    from assembly.schema import SCHEMA_HISTORY
    from supplies.places.models import Place
    from supplies.stock import service as stock
    from supplies.stock.models import Movement
    from supplies.stock.schemas import stock_levels_json
    from yui.db.database import Database
    from yui.errors import Conflict
    from yui.tenancy.service import create_tenant

    name = f"yui-bench-stock-{args.depots}x{args.items}-{args.movements}.db"
    url = args.db or f"sqlite:///{Path(tempfile.gettempdir()) / name}"
    db = Database(url)
    db.migrate(SCHEMA_HISTORY)
    with contextlib.suppress(Conflict):  # already there from an earlier run
        create_tenant(db, TENANT, "仙台市")
    with db.unit_of_work(TENANT, read_only=True) as uow:
        present = uow.session.execute(select(func.count()).select_from(Movement)).scalar_one()
    fill_seconds = 0.0
    if present == 0:
        fill_seconds = _fill(db, args.depots, args.items, args.movements, args.seed)
    with db.unit_of_work(TENANT, read_only=True) as uow:
        movements = uow.session.execute(select(func.count()).select_from(Movement)).scalar_one()
        place_ids = list(uow.session.execute(select(Place.id)).scalars())
        began = time.perf_counter()
        balances, mismatches = stock.verify_balances(uow.session)
        check_seconds = time.perf_counter() - began
        item_ids = [level.item_id for level in stock.levels(uow.session, place_ids=place_ids[:1])]
    assert not mismatches, f"{len(mismatches)} balances differ from the ledger"

    rng = random.Random(args.seed)
    depot_ms: list[float] = []
    item_ms: list[float] = []
    cpu_ms: list[float] = []  # this process's CPU per read: what the machine's load leaves out
    waited_ms: list[float] = []  # runnable, waiting for a core
    rows = 0
    for index in range(args.queries + 10):
        one_depot = index % 2 == 0
        began, cpu_began = time.perf_counter(), time.process_time()
        wait_began = _runqueue_wait_ns()
        with db.unit_of_work(TENANT, read_only=True) as uow:
            levels = stock.levels(
                uow.session,
                place_ids=[rng.choice(place_ids)] if one_depot else None,
                item_ids=None if one_depot else [rng.choice(item_ids)],
            )
            body = stock_levels_json(levels)
        elapsed = (time.perf_counter() - began) * 1000
        cpu = (time.process_time() - cpu_began) * 1000
        waited = (_runqueue_wait_ns() - wait_began) / 1e6
        if index >= 10:  # the first reads warm the caches
            (depot_ms if one_depot else item_ms).append(elapsed)
            cpu_ms.append(cpu)
            waited_ms.append(waited)
            rows = max(rows, len(levels))
            assert body.startswith(b"[")
    db.dispose()
    every = depot_ms + item_ms
    print(
        json.dumps(
            {
                "stock_p95_ms": round(_percentile(every, 0.95), 2),
                "stock_p50_ms": round(_percentile(every, 0.50), 2),
                "depot_p95_ms": round(_percentile(depot_ms, 0.95), 2),
                "item_p95_ms": round(_percentile(item_ms, 0.95), 2),
                "cpu_p95_ms": round(_percentile(cpu_ms, 0.95), 2),
                "cpu_p50_ms": round(_percentile(cpu_ms, 0.50), 2),
                "runqueue_wait_p50_ms": round(_percentile(waited_ms, 0.50), 2),
                "queries": len(every),
                "largest_answer_rows": rows,
                "movements": movements,
                "balances": balances,
                "check_seconds": round(check_seconds, 1),
                "fill_seconds": round(fill_seconds, 1),
                "database": url.split(":", 1)[0],
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
