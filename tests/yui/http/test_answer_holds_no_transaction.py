"""A write's answer waits for its replicas holding no database connection (issue 11).

The answer of a sync write is held until the replicas have its entries (ReplicationAcks).
An endpoint that reads after its commit (the supplies movements build their answer so)
opened a second transaction, and the unit of work used to be closed only after the answer
was sent: on SQLite that transaction held the write lock through the wait. A site holding
one tenant's primary and another's replica then could not apply the other tenant's entries
— whose primary, elsewhere, waited the same way for this site's ack: two sites' writes and
applies stood still until timeouts (30 s lock waits) broke the knot, and copies fell
minutes behind in the supplies drill (docs/drills.md)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.pool import QueuePool

from assembly.site import API_PREFIX
from failover.drill.models import DrillProbe
from replication.primary.acks import ReplicationAcks, record
from tests.support.drill_sites import site_app, site_db
from tests.support.factories import SENDAI
from yui.http.deps import UoW


def test_the_answer_waits_for_replication_without_the_write_lock(tmp_path: Path) -> None:
    db = site_db(tmp_path, "primary")
    db.on_logged.append(record)
    app = site_app(tmp_path, "primary", db)
    pool = db.engine.pool
    assert isinstance(pool, QueuePool)
    seen: list[tuple[int, str]] = []

    def another_writer() -> str:
        """A replica's apply of another tenant's entries at this site: SQLite's write lock."""
        other = sqlite3.connect(tmp_path / "primary.db", timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return "free"
        except sqlite3.OperationalError as error:
            return str(error)
        finally:
            other.close()

    async def wait(committed: Sequence[tuple[str, int]]) -> None:
        seen.append((pool.checkedout(), await anyio.to_thread.run_sync(another_writer)))

    app.add_middleware(ReplicationAcks, wait=wait)

    @app.post(f"{API_PREFIX}/write-then-read", status_code=201)
    def write_then_read(uow: UoW) -> dict[str, str]:
        probe = DrillProbe(
            tenant_id=SENDAI, id=uuid.uuid4(), written_at=datetime.now(UTC), site="primary"
        )
        uow.session.add(probe)
        uow.commit()
        # the answer read after the commit, as supplies.stock.api builds a movement's
        again = uow.session.execute(select(DrillProbe.id).where(DrillProbe.id == probe.id))
        return {"id": str(again.scalar_one())}

    with TestClient(app) as client:
        response = client.post(f"/api/v1/{SENDAI}/write-then-read")
    assert response.status_code == 201, response.text
    assert seen == [(0, "free")]  # no connection out, the write lock free while it waited
    db.dispose()
