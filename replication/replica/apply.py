"""Applying change-log entries to a tenant's rows, in seq order, inside the caller's
transaction.

An insert carries the whole row, an update only the changed columns, a delete the
primary key (a tombstone). Each statement must touch exactly one row of the tenant:
anything else means this copy differs from the primary's, and the entry is refused
rather than half-applied. Consecutive inserts into one table go as one executemany.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, update
from sqlalchemy.exc import SQLAlchemyError

from replication.entries import LogEntry
from replication.sql import executemany_insert
from replication.tables import codec, replicated_table


class ApplyError(Exception):
    """An entry that cannot be applied here; ``seq`` is the entry, or the first of a group."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"seq {seq}: {reason}")
        self.seq = seq
        self.reason = reason


def _table(entry: LogEntry) -> Table:
    table = replicated_table(entry.table)
    if table is None:
        raise ApplyError(entry.seq, f"no tenant table {entry.table!r} at this site")
    return table


def _decoded(entry: LogEntry, table: Table, values: dict[str, Any]) -> dict[str, Any]:
    try:
        return codec(table).decode(values)
    except KeyError as error:
        raise ApplyError(entry.seq, f"table {entry.table} has no column {error}") from None
    except (TypeError, ValueError) as error:
        raise ApplyError(entry.seq, f"bad value in {entry.table}: {error}") from None


def _where(entry: LogEntry, table: Table, tenant: str) -> Any:
    pk = _decoded(entry, table, entry.pk)
    if not pk:
        raise ApplyError(entry.seq, "an entry without a primary key")
    return and_(
        table.c.tenant_id == tenant, *(table.c[name] == value for name, value in pk.items())
    )


class _Inserts:
    """Consecutive inserts into one table with the same columns, sent as one executemany."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.table: Table | None = None
        self.columns: tuple[str, ...] = ()
        self.rows: list[list[Any]] = []
        self.first_seq = 0
        self.last_seq = 0

    def add(self, entry: LogEntry, table: Table, values: dict[str, Any]) -> None:
        columns = tuple(values)
        if table is not self.table or columns != self.columns:
            self.flush()
            self.table, self.columns, self.first_seq = table, columns, entry.seq
        self.rows.append(list(values.values()))
        self.last_seq = entry.seq

    def flush(self) -> None:
        if self.table is None or not self.rows:
            return
        try:
            executemany_insert(self.connection, self.table, self.columns, self.rows)
        except SQLAlchemyError as error:
            raise ApplyError(
                self.first_seq,
                f"insert into {self.table.name} (seqs {self.first_seq}–{self.last_seq}) failed: "
                f"{_brief(error)}",
            ) from None
        self.rows = []


def apply_entries(
    connection: Connection, tenant: str, entries: Iterable[LogEntry], *, grouped: bool = True
) -> None:
    """Apply ``entries`` in order; ApplyError names the entry that cannot be applied
    (with ``grouped=False`` exactly that entry, at the cost of one statement each)."""
    inserts = _Inserts(connection)
    for entry in entries:
        table = _table(entry)
        if entry.op == "insert":
            if entry.row is None:
                raise ApplyError(entry.seq, "an insert without a row")
            values = _decoded(entry, table, entry.row)
            if values.get("tenant_id") != tenant:
                raise ApplyError(
                    entry.seq, f"a row of tenant {values.get('tenant_id')} in {tenant}'s log"
                )
            inserts.add(entry, table, values)
            if not grouped:
                inserts.flush()
            continue
        inserts.flush()
        where = _where(entry, table, tenant)
        try:
            if entry.op == "update":
                changed = _decoded(entry, table, entry.row or {})
                if changed.get("tenant_id", tenant) != tenant:
                    raise ApplyError(entry.seq, "an update that moves a row to another tenant")
                result = connection.execute(update(table).where(where).values(**changed))
            elif entry.op == "delete":
                result = connection.execute(delete(table).where(where))
            else:
                raise ApplyError(entry.seq, f"unknown operation {entry.op!r}")
        except SQLAlchemyError as error:
            raise ApplyError(
                entry.seq, f"{entry.op} of {entry.table} failed: {_brief(error)}"
            ) from None
        if result.rowcount != 1:
            raise ApplyError(
                entry.seq,
                f"{entry.op} of {entry.table} {entry.pk} matched {result.rowcount} rows, not 1",
            )
    inserts.flush()


def _brief(error: SQLAlchemyError) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0][:300]
