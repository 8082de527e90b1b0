"""Benchmark: the staff console's dashboard and resident search pages on a tenant of
1,000,000 residents (issue 17).

    python bench/console.py [--count N] [--reports M] [--db URL] [--requests R]

Fills the tenant once (kept for later runs): the residents through the registry's
ordinary import of synthetic residents, then one live campaign with M reports. The fill
and its SQLite file are bench/dashboard.py's: whichever of the two runs first fills it (at
1,000,000, tens of minutes on a loaded machine), the other reads it as it is. Then a whole site node (the composition root's app, SQLite
or PostgreSQL) serves R requests of each page in process, as a signed-in staff member's
browser would send them: the dashboard (`/console/t/{tenant}/`: the campaign, counts per
町字 with the chart, the response-rate curve, the first page of the unconfirmed list) and
the resident search page (`/console/t/{tenant}/residents?q=…`, the queries of
bench/search.py: kana, kanji, half-width, with given names), each page calling the API
through the gateway as the console does. The time is the page's, rendered HTML included.
The last line printed is one JSON object with `dashboard_p95_ms` and `search_p95_ms`.
Target: ≤ 300 ms each.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _sites  # noqa: F401 - bench/failover.py must not shadow the failover package
from dashboard import _fill_reports, _fill_residents, bench_url
from search import _queries


def _import_console_package() -> None:
    """This script's name would shadow the `console` package (a script's folder comes
    first on sys.path): import the package with the folder off the path."""
    here = Path(__file__).resolve().parent
    path = list(sys.path)
    sys.path[:] = [entry for entry in path if Path(entry or ".").resolve() != here]
    try:
        sys.modules.pop("console", None)
        importlib.import_module("console.staff.platform")
    finally:
        sys.path[:] = path


_import_console_package()

TENANT = "041009"
USERNAME = "bench-staff"
PASSWORD = "bench console passphrase 1"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="residents")
    parser.add_argument("--reports", type=int, default=-1, help="default: as many as residents")
    parser.add_argument("--db", default="", help="SQLAlchemy URL (default: a SQLite file in /tmp)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    reports = args.count if args.reports < 0 else args.reports

    from starlette.testclient import TestClient

    from assembly.site import create_app
    from console.common.session import SESSION_COOKIE, Session, SessionCodec, TenantSignIn
    from console.staff.dashboard import UNCONFIRMED_PAGE
    from yui.auth.service import create_user
    from yui.db.database import Database
    from yui.errors import Conflict
    from yui.settings import load_settings

    url = args.db or bench_url(args.count)
    db = Database(url)
    present, fill_seconds = _fill_residents(db, args.count, args.seed)
    campaign_id, reports_seconds = _fill_reports(db, reports, args.seed)
    with contextlib.suppress(Conflict), db.unit_of_work(TENANT) as uow:
        create_user(
            uow.session, username=USERNAME, password=PASSWORD, roles=["staff"], actor="bench"
        )
        uow.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    db.dispose()

    with tempfile.TemporaryDirectory(prefix="yui-bench-console-") as data:
        settings = load_settings(
            site="bench-console",
            data_dir=Path(data),
            database_url=url,
            token_secret="bench-console-key-" + "k" * 32,
            log_json=False,
        )
        app = create_app(settings)
        with TestClient(app, base_url="http://localhost") as client:
            signed = client.post(
                f"/api/v1/{TENANT}/auth/token",
                json={"username": USERNAME, "password": PASSWORD},
            )
            assert signed.status_code == 200, signed.text
            session = Session()
            session.add(
                TenantSignIn(
                    tenant=TENANT,
                    token=signed.json()["access_token"],
                    username=USERNAME,
                    roles=("staff",),
                    expires_at=int(time.time()) + 3600,
                    name="仙台市",
                )
            )
            client.cookies.set(SESSION_COOKIE, SessionCodec(settings.signing_key()).dumps(session))

            def timed(path: str, headers: dict[str, str] | None = None, **params: str) -> float:
                began = time.perf_counter()
                page = client.get(path, params=params, headers=headers)
                elapsed = (time.perf_counter() - began) * 1000
                assert page.status_code == 200, (path, page.status_code, page.text[:300])
                return elapsed

            dashboard = f"/console/t/{TENANT}/"
            search = f"/console/t/{TENANT}/residents"
            queries = _queries(args.requests + 5, args.seed)
            for query in queries[:5]:  # warm the caches, as a console in use is
                timed(dashboard)
                timed(search, q=query)
            dashboard_ms = [timed(dashboard) for _ in range(args.requests)]
            search_ms = [timed(search, q=query) for query in queries[5:]]
            # the dashboard's parts: each API call it makes, alone, as it makes them
            bearer = {"Authorization": f"Bearer {signed.json()['access_token']}"}
            api = f"/api/v1/{TENANT}/safety/campaigns"
            parts: dict[str, tuple[str, dict[str, str]]] = {
                "campaigns": (api, {}),
                "districts": (f"{api}/{campaign_id}/districts", {}),
                "unconfirmed": (
                    f"{api}/{campaign_id}/unconfirmed",
                    {"limit": str(UNCONFIRMED_PAGE)},
                ),
                "response_rate": (f"{api}/{campaign_id}/response-rate", {}),
            }
            part_ms = {
                name: [timed(path, bearer, **params) for _ in range(max(10, args.requests // 4))]
                for name, (path, params) in parts.items()
            }
    print(
        json.dumps(
            {
                "dashboard_p95_ms": round(_percentile(dashboard_ms, 0.95), 2),
                "search_p95_ms": round(_percentile(search_ms, 0.95), 2),
                "dashboard_p50_ms": round(_percentile(dashboard_ms, 0.50), 2),
                "search_p50_ms": round(_percentile(search_ms, 0.50), 2),
                # each API call of the dashboard alone (p50, p95); the page's own time
                # (templates, in-process calls) is the rest
                "dashboard_parts_ms": {
                    name: [round(_percentile(values, share), 1) for share in (0.50, 0.95)]
                    for name, values in part_ms.items()
                },
                "requests": args.requests,
                "residents": present,
                "reports": reports,
                "fill_seconds": round(fill_seconds, 1),
                "reports_fill_seconds": round(reports_seconds, 1),
                "database": url.split(":", 1)[0],
                "load_average": [round(value, 2) for value in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
