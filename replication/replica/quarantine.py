"""The quarantine: entries kept aside with their reason, for staff to see and reconcile.

An entry lands here when a replica refuses it (its primary was deposed: a lower epoch
than the seal), when a copy's log diverged from the new primary's (a deposed primary's
unacknowledged tail), when it cannot be applied, or when a promotion cuts an
incomplete transaction off the log. Nothing is dropped silently (invariant 5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, select, update

from replication.entries import LogEntry
from replication.models import QuarantinedEntry
from replication.sql import insert_ignore, reading, table_of
from yui.db.database import Database
from yui.errors import Conflict, NotFound

ReasonCode = Literal["fenced", "diverged", "apply-failed", "incomplete"]
_TABLE = table_of(QuarantinedEntry)


def put(
    connection: Connection,
    tenant: str,
    entries: Iterable[LogEntry],
    code: ReasonCode,
    reason: str,
    source_site: str,
) -> int:
    """Keep ``entries`` aside (an entry already kept here stays as it was). Returns how
    many were offered."""
    now = datetime.now(UTC)
    count = 0
    for entry in entries:
        insert_ignore(
            connection,
            _TABLE,
            {
                "tenant_id": tenant,
                "seq": entry.seq,
                "epoch": entry.epoch,
                "tx_seq": entry.tx_seq,
                "table_name": entry.table,
                "op": entry.op,
                "pk": entry.pk,
                "row": entry.row,
                "committed_at": entry.at,
                "reason_code": code,
                "reason": reason,
                "source_site": source_site,
                "quarantined_at": now,
            },
        )
        count += 1
    return count


def resolve_applied(connection: Connection, tenant: str, applied_seq: int) -> None:
    """Entries that could not be applied once, and were applied since, are resolved."""
    connection.execute(
        update(_TABLE)
        .where(
            _TABLE.c.tenant_id == tenant,
            _TABLE.c.reason_code == "apply-failed",
            _TABLE.c.seq <= applied_seq,
            _TABLE.c.resolved_at.is_(None),
        )
        .values(
            resolved_at=datetime.now(UTC),
            resolved_by="replication",
            resolution="applied on a later attempt",
        )
    )


def listing(
    db: Database,
    tenant: str | None = None,
    *,
    include_resolved: bool = False,
    limit: int = 500,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = (
        select(_TABLE)
        .order_by(_TABLE.c.tenant_id, _TABLE.c.seq, _TABLE.c.epoch, _TABLE.c.id)
        .limit(limit)
        .offset(offset)
    )
    if tenant is not None:
        query = query.where(_TABLE.c.tenant_id == tenant)
    if not include_resolved:
        query = query.where(_TABLE.c.resolved_at.is_(None))
    with reading(db.engine) as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def resolve(db: Database, entry_id: int, by: str, note: str, tenant: str | None = None) -> None:
    """Mark an entry reconciled by staff (it stays, with who and how)."""
    with db.engine.begin() as connection:
        row = connection.execute(select(_TABLE).where(_TABLE.c.id == entry_id)).mappings().first()
        if row is None or (tenant is not None and row["tenant_id"] != tenant):
            raise NotFound(
                f"隔離エントリ {entry_id} はありません / no quarantined entry {entry_id}"
            )
        if row["resolved_at"] is not None:
            raise Conflict(
                f"隔離エントリ {entry_id} は解決済みです / entry {entry_id} is already resolved"
            )
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == entry_id)
            .values(resolved_at=datetime.now(UTC), resolved_by=by, resolution=note)
        )


def entries_of(rows: Sequence[Any]) -> list[LogEntry]:
    return [LogEntry.from_row(row) for row in rows]
