"""Benchmark: one allocation suggestion for a whole municipality (relief supplies).

    python bench/allocation.py [--shelters 500] [--requests 2000] [--items 50]
                               [--depots 50] [--lots 4] [--seed 7]

Builds (not timed) `--requests` requests spread over `--shelters` shelters, each with a
line for every one of `--items` items (2,000 × 50 = 100,000 lines), a fifth of each line
for vulnerable groups; `--depots` depots each holding `--lots` lots of every item with
expiry dates; stock covers from 20 % to 150 % of each item's need, so most items are
short. Times `supplies.allocation.rules.suggest` (proportional shares, vulnerable first,
nearest depot, first expiry, the explanation of every line) and checks the answer: no lot
over-drawn, every line within what it asked. The last line is one JSON object with
`seconds` (the median of `--runs`, wall clock), `cpu_seconds`, `lines`, `picks`, `shelters`, `items`, `depots`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import defaultdict
from datetime import date, timedelta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shelters", type=int, default=500)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--depots", type=int, default=50)
    parser.add_argument("--lots", type=int, default=4, help="lots of each item per depot")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from supplies.allocation.rules import Depot, Lot, Need, Point, suggest

    rng = random.Random(args.seed)

    def near_sendai() -> Point:
        return Point(38.2 + rng.uniform(-0.3, 0.3), 140.8 + rng.uniform(-0.4, 0.4))

    shelters = {f"shelter-{n:04d}": near_sendai() for n in range(args.shelters)}
    depots = {
        f"depot-{n:03d}": Depot(f"depot-{n:03d}", f"備蓄倉庫{n}", near_sendai())
        for n in range(args.depots)
    }
    shelter_ids = list(shelters)
    needs = []
    need_per_item: dict[str, int] = defaultdict(int)
    for request in range(args.requests):
        shelter = shelter_ids[request % len(shelter_ids)]
        for item in range(args.items):
            quantity = rng.randint(1, 400)
            item_id = f"item-{item:03d}"
            needs.append(
                Need(f"r{request:05d}-{item:03d}", shelter, item_id, quantity, quantity // 5)
            )
            need_per_item[item_id] += quantity
    lots = []
    today = date(2026, 12, 7)
    for item_id, need in need_per_item.items():
        stock = int(need * rng.uniform(0.2, 1.5))
        per_lot = max(1, stock // (args.depots * args.lots))
        for depot_id in depots:
            for n in range(args.lots):
                expires = today + timedelta(days=rng.randint(10, 900))
                lots.append(Lot(f"{depot_id}-{item_id}-{n}", depot_id, item_id, per_lot, expires))

    times, cpu = [], []
    suggestions = []
    for _ in range(args.runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        suggestions = suggest(needs, lots, shelters=shelters, depots=depots)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)

    taken: dict[str, int] = defaultdict(int)
    for suggestion, need in zip(suggestions, needs, strict=True):
        assert suggestion.allocated <= need.quantity
        assert suggestion.allocated == sum(pick.quantity for pick in suggestion.picks)
        for pick in suggestion.picks:
            taken[pick.lot_id] += pick.quantity
    held = {lot.lot_id: lot.quantity for lot in lots}
    assert all(quantity <= held[lot_id] for lot_id, quantity in taken.items())

    print(
        json.dumps(
            {
                "seconds": round(statistics.median(times), 3),
                "runs": [round(t, 3) for t in times],
                "cpu_seconds": round(statistics.median(cpu), 3),
                "lines": len(needs),
                "picks": sum(len(s.picks) for s in suggestions),
                "shelters": args.shelters,
                "items": args.items,
                "depots": args.depots,
                "lots": len(lots),
            }
        )
    )


if __name__ == "__main__":
    main()
