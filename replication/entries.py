"""Change-log entries as replication handles them, and reading them from the log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from replication.history import History
from replication.protocol.wire import Entry
from replication.sql import table_of
from replication.state import CopyState
from yui.changelog.models import ChangeLogEntry

LOG = table_of(ChangeLogEntry)
_COLUMNS = (
    LOG.c.seq,
    LOG.c.epoch,
    LOG.c.tx_seq,
    LOG.c.table_name,
    LOG.c.op,
    LOG.c.pk,
    LOG.c.row,
    LOG.c.committed_at,
)


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    epoch: int
    tx_seq: int
    table: str
    op: str
    pk: dict[str, Any]
    row: dict[str, Any] | None
    at: datetime

    @classmethod
    def from_row(cls, row: Any) -> LogEntry:
        """From a change_log (or quarantine) row selected with ``_COLUMNS``' names."""
        return cls(
            int(row.seq),
            int(row.epoch),
            int(row.tx_seq),
            str(row.table_name),
            str(row.op),
            row.pk,
            row.row,
            row.committed_at,
        )

    @classmethod
    def from_log_row(cls, row: Mapping[str, Any]) -> LogEntry:
        """From a row as change capture inserted it (the inverse of :meth:`log_row`)."""
        return cls(
            row["seq"],
            row["epoch"],
            row["tx_seq"],
            row["table_name"],
            row["op"],
            row["pk"],
            row["row"],
            row["committed_at"],
        )

    @classmethod
    def from_wire(cls, entry: Entry) -> LogEntry:
        return cls(
            entry.seq,
            entry.epoch,
            entry.tx_seq,
            entry.table,
            entry.op,
            entry.pk,
            entry.row,
            entry.at,
        )

    def wire(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "epoch": self.epoch,
            "tx_seq": self.tx_seq,
            "table": self.table,
            "op": self.op,
            "pk": self.pk,
            "row": self.row,
            "at": self.at.isoformat(),
        }

    def log_row(self, tenant: str) -> dict[str, Any]:
        return {
            "tenant_id": tenant,
            "seq": self.seq,
            "epoch": self.epoch,
            "tx_seq": self.tx_seq,
            "table_name": self.table,
            "op": self.op,
            "pk": self.pk,
            "row": self.row,
            "committed_at": self.at,
        }


def read_range(
    connection: Connection,
    tenant: str,
    first: int,
    last: int | None = None,
    limit: int | None = None,
) -> list[LogEntry]:
    """Entries first.. (..last) of the tenant's log, in seq order."""
    query = select(*_COLUMNS).where(LOG.c.tenant_id == tenant, LOG.c.seq >= first)
    if last is not None:
        query = query.where(LOG.c.seq <= last)
    query = query.order_by(LOG.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return [LogEntry.from_row(row) for row in connection.execute(query)]


def stream_range(
    connection: Connection, tenant: str, first: int, last: int, chunk: int = 2000
) -> Iterator[LogEntry]:
    """Entries first..last without holding them all (a transaction of a million rows)."""
    start = first
    while start <= last:
        entries = read_range(connection, tenant, start, last, chunk)
        if not entries:
            return
        yield from entries
        start = entries[-1].seq + 1


def logged_epochs(connection: Connection, tenant: str, first: int, last: int) -> dict[int, int]:
    """seq → epoch of the entries this log holds from ``first`` to ``last``."""
    rows = connection.execute(
        select(LOG.c.seq, LOG.c.epoch).where(
            LOG.c.tenant_id == tenant, LOG.c.seq >= first, LOG.c.seq <= last
        )
    )
    return {int(seq): int(epoch) for seq, epoch in rows}


def writer_history(connection: Connection, state: CopyState) -> History:
    """The epoch history of a log this site writes. A log written before any promotion
    (or with its epoch set by hand) may lack its current epoch: it is found in the log."""
    history = [list(pair) for pair in state.epochs]
    last = history[-1][0] if history else 0
    if state.write_epoch > last:
        first = connection.execute(
            select(func.min(LOG.c.seq)).where(
                LOG.c.tenant_id == state.tenant, LOG.c.epoch >= state.write_epoch
            )
        ).scalar()
        history.append([state.write_epoch, int(first) if first is not None else state.head + 1])
    return history
