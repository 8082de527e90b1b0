"""The alerts a site received and what it decided: one row per alert the site took
(`POST /alerts/v1/ingest`, or `yui alerts ingest` where the site's database is: both
through failover.alerts.receive), kept for the operators' console page.

A site's own record, like its quarantine: no municipality's data (the tenants hear of an
alert through their own rows, failover.alerts.announce), so it is not a tenant table, not
change-logged and not replicated. Every site is sent the same alerts and decides for
itself; each keeps what it received and decided.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Boolean, Connection, Integer, String, Table, Text, func, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from failover.alerts.intake import IngestOutcome
from yui.db.base import Base
from yui.db.database import Database
from yui.db.engine import READ_ONLY
from yui.db.types import UTCDateTime
from yui.hazard_alerts import Alert

__all__ = ["ReceivedAlert", "count_received", "received", "record_received"]


class ReceivedAlert(Base):
    __tablename__ = "failover_alerts_received"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    #: the site that received and decided
    site: Mapped[str] = mapped_column(String(63), nullable=False)
    identifier: Mapped[str] = mapped_column(String(255), nullable=False)
    sender: Mapped[str] = mapped_column(String(255), nullable=False)
    sent: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: Actual | Exercise | Test | System | Draft
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    msg_type: Mapped[str] = mapped_column(String(10), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    headline: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    #: evacuate | drill | drill-only | none
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    #: "日本語 / English", e.g. "退避します / evacuate: site-b"
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: the evacuation was requested (not a dry run, something to do, a trigger wired)
    executed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: every requested evacuation went through (True when none was requested)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: the intake's whole answer: the decision with its reasons per site, the note, each
    #: evacuation's result, the tenants told
    decision: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)


_TABLE = cast(Table, ReceivedAlert.__table__)


def record_received(
    db: Database,
    alert: Alert,
    outcome: IngestOutcome,
    answer: dict[str, Any],
    *,
    site: str,
    received_at: datetime,
    dry_run: bool,
) -> None:
    """Keep one alert and the site's decision (``answer``: what the intake answered)."""
    with db.engine.begin() as connection:
        connection.execute(
            insert(_TABLE).values(
                received_at=received_at,
                site=site,
                identifier=alert.identifier[:255],
                sender=alert.sender[:255],
                sent=alert.sent,
                status=alert.status.value,
                msg_type=alert.msg_type.value,
                kind=alert.kind.value,
                headline=(alert.headline or alert.event or "")[:300],
                action=outcome.decision.action,
                summary=outcome.decision.summary(),
                dry_run=dry_run,
                executed=outcome.executed is not None,
                ok=outcome.ok,
                decision=answer,
            )
        )


def _reading(db: Database) -> Connection:
    # SQLite: a read must not take the write lock (BEGIN IMMEDIATE) the writers queue on
    return db.engine.connect().execution_options(**{READ_ONLY: True})


def received(db: Database, *, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
    """The alerts received, newest first."""
    query = (
        select(_TABLE)
        .order_by(_TABLE.c.received_at.desc(), _TABLE.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    with _reading(db) as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def count_received(db: Database) -> int:
    with _reading(db) as connection:
        return int(connection.execute(select(func.count()).select_from(_TABLE)).scalar_one())
