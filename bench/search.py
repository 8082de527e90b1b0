"""Benchmark: name search on a tenant of N residents (default 1,000,000).

    python bench/search.py [--count N] [--db URL] [--queries Q] [--seed S]

Fills the tenant through the ordinary CSV import of synthetic residents (skipped
when the database at --db already holds them), then runs Q name searches the way
GET /residents does: one unit of work per search, the query (first page of 20),
the audit entry, the commit. Queries mix readings and written names, full and
partial, in hiragana, katakana, half-width and with spaces. The last line printed
is one JSON object with `search_p95_ms`. Target (issue 3): ≤ 50 ms on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
import unicodedata
from pathlib import Path

import _sites  # noqa: F401 - bench/failover.py must not shadow the failover package

TENANT = "041009"


def _queries(count: int, seed: int) -> list[str]:
    import jaconv

    from residents.demo import names

    family, female, male = names.pools()
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        (kanji, kana), (given, given_kana) = rng.choice(family), rng.choice(female + male)
        form = rng.randrange(7)
        if form == 0:
            queries.append(jaconv.kata2hira(kana))  # さとう
        elif form == 1:
            queries.append(f"{jaconv.kata2hira(kana)} {jaconv.kata2hira(given_kana)}")
        elif form == 2:
            queries.append(jaconv.z2h(f"{kana} {given_kana}", kana=True))  # ｻﾄｳ ﾊﾅｺ
        elif form == 3:
            queries.append(kanji)  # 佐藤
        elif form == 4:
            queries.append(f"{kanji}\u3000{given}")  # 佐藤　花子
        elif form == 5:
            queries.append(f"{kana}{given_kana[:1]}")  # サトウハ
        else:
            queries.append(unicodedata.normalize("NFKC", f"{kanji}{given[:1]}"))
    return queries


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--db", default="", help="SQLAlchemy URL (default: a SQLite file in /tmp)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from sqlalchemy import func, select

    from assembly.schema import SCHEMA_HISTORY
    from residents.demo.service import generate
    from residents.registry.models import Resident
    from residents.search import service as search
    from residents.search.schemas import SearchQuery
    from yui.db.database import Database
    from yui.errors import Conflict
    from yui.tenancy.service import create_tenant

    url = (
        args.db or f"sqlite:///{Path(tempfile.gettempdir()) / f'yui-bench-search-{args.count}.db'}"
    )
    db = Database(url)
    db.migrate(SCHEMA_HISTORY)
    with contextlib.suppress(Conflict):  # already there from an earlier run
        create_tenant(db, TENANT, "仙台市")
    with db.unit_of_work(TENANT, read_only=True) as uow:
        present = uow.session.execute(select(func.count()).select_from(Resident)).scalar_one()
    fill_seconds = 0.0
    if present < args.count:
        began = time.perf_counter()
        generated = generate(db, TENANT, args.count - present, seed=args.seed, actor="bench")
        fill_seconds = time.perf_counter() - began
        present += generated.report.imported

    queries = _queries(args.queries + 20, args.seed)
    found: list[int] = []
    end_to_end: list[float] = []
    query_only: list[float] = []
    for index, text in enumerate(queries):
        query = SearchQuery(q=text, limit=20)
        began = time.perf_counter()
        with db.unit_of_work(TENANT) as uow:
            page = search.search(uow.session, query, actor="bench")
            uow.commit()
        elapsed = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        with db.unit_of_work(TENANT, read_only=True) as uow:
            search.find(uow.session, query)
        only = (time.perf_counter() - began) * 1000
        if index >= 20:  # the first queries warm the caches
            end_to_end.append(elapsed)
            query_only.append(only)
            found.append(len(page.residents))
    db.dispose()
    print(
        json.dumps(
            {
                "search_p95_ms": round(_percentile(end_to_end, 0.95), 2),
                "search_p50_ms": round(_percentile(end_to_end, 0.50), 2),
                "search_p99_ms": round(_percentile(end_to_end, 0.99), 2),
                "query_only_p95_ms": round(_percentile(query_only, 0.95), 2),
                "queries": len(end_to_end),
                "mean_results": round(statistics.mean(found), 1),
                "residents": present,
                "fill_seconds": round(fill_seconds, 1),
                "database": url.split(":", 1)[0],
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
