"""Site apps for drill tests: the kernel's site node with the drill-probe router mounted
(as the composition root will mount it), on SQLite, optionally behind a gateway."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

import failover.drill.models  # noqa: F401 - registers the table's mapping
from assembly.schema import SCHEMA_HISTORY
from assembly.site import API_PREFIX, create_app
from failover.drill.probe_api import router as probe_router
from tests.conftest import TEST_SECRET
from tests.support.factories import SENDAI, tenant, user
from yui.db.context import WriteGate
from yui.db.database import Database
from yui.http.gateway import RouteLookup
from yui.settings import Settings, load_settings


def mount_probes(app: FastAPI) -> FastAPI:
    if f"{API_PREFIX}/drill-probes" not in app.openapi()["paths"]:  # the site may mount it
        app.include_router(probe_router, prefix=API_PREFIX)
        app.openapi_schema = None
    return app


def site_db(tmp_path: Path, name: str, tenants: tuple[str, ...] = (SENDAI,)) -> Database:
    """A migrated SQLite database holding `tenants`, each with an admin `boss`."""
    db = Database(f"sqlite:///{tmp_path / name}.db")
    db.migrate(SCHEMA_HISTORY)
    for code in tenants:
        tenant(db, code, f"town {code}")
        user(db, code, "boss", "admin")
    return db


def site_settings(tmp_path: Path, name: str) -> Settings:
    return load_settings(site=name, data_dir=tmp_path, token_secret=TEST_SECRET, log_json=False)


def site_app(
    tmp_path: Path,
    name: str,
    db: Database,
    *,
    route_lookup: RouteLookup | None = None,
    write_gate: WriteGate | None = None,
) -> FastAPI:
    app = create_app(
        site_settings(tmp_path, name),
        db,
        migrate=False,
        route_lookup=route_lookup,
        write_gate=write_gate,
    )
    return mount_probes(app)
