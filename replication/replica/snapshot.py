"""Loading a copy from a consistent snapshot of the tenant at seq S, streamed
(replication.primary.snapshot writes it; the format is described there).

The replica loads the lines as they arrive, in one transaction it commits only once the
trailer's signature and hash check out. Neither side ever holds the whole tenant.

Loading first keeps aside every entry of the replica's own log that is not in the
primary's log (compared by epoch history: a deposed primary's unacknowledged tail),
then replaces the tenant's rows and log: the copy is at S and takes the tail from S+1.

On SQLite a table that receives more rows than it already holds (other tenants') is
loaded without its secondary indexes, which are built once at the table's end: building
an index over sorted keys costs a fraction of keeping it up row by row. The indexes are
the ones the migrations made (their SQL as SQLite keeps it), dropped and built again
inside the load's one transaction: other connections keep seeing the committed schema
and rows, and a load that fails or is interrupted, even during the index build, rolls
back to the indexes and rows there were before.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Table, delete, func, select

from replication.entries import LOG, stream_range
from replication.history import History, clipped, epoch_at
from replication.pipe import Pipe
from replication.protocol.wire import SNAPSHOT_FORMAT, Ack
from replication.replica import quarantine
from replication.replica.batches import answer
from replication.sql import BulkInsert
from replication.state import CopyState, applying, read, save
from replication.tables import codec, replicated_table, replicated_tables
from yui.db.database import Database

log = logging.getLogger("yui.replication")

ROWS_PER_INSERT = 5000
#: SQLite's page cache while a snapshot loads (KiB, negative as PRAGMA cache_size wants)
LOAD_CACHE_KIB = -131072
#: SQLite: a table's secondary indexes are dropped for the load once this many of its
#: rows came and they outnumber the rows other tenants hold in it (a rebuild covers theirs
#: too); a small table keeps them (its upkeep is cheap)
DEFER_INDEXES_AFTER = 20_000
#: how far the rows already in a table are counted (beyond it, its indexes stay)
EXISTING_ROWS_COUNTED = 10_000_000


class SnapshotError(ValueError):
    """The stream is not a valid snapshot."""


COMMIT = b"commit"
ABORT = b"abort"
LoaderItem = list[bytes] | bytes


@dataclass
class _Table:
    name: str
    width: int
    tenant_at: int
    insert: BulkInsert
    #: rows of other tenants already in the table (SQLite; None: its indexes are kept)
    existing: int | None = None
    loaded: int = 0
    #: the CREATE INDEX statements of the indexes dropped for the load, to build at its end
    deferred: list[str] | None = None


def _secondary_indexes(connection: Connection, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes as the migrations made them;
    SQLite's own indexes of a primary key or UNIQUE constraint (no SQL) are not among them."""
    rows = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name",
        (table,),
    )
    return [(str(name), str(sql)) for name, sql in rows]


def _rows_held(connection: Connection, table: Table) -> int:
    held = select(table.c.tenant_id).limit(EXISTING_ROWS_COUNTED).subquery()
    return int(connection.execute(select(func.count()).select_from(held)).scalar_one())


class Loader:
    """Loads one snapshot stream in one transaction (runs in a worker thread).

    It takes lists of lines from a pipe and then COMMIT (the trailer checked out) or
    ABORT; anything wrong raises SnapshotError and rolls back.
    """

    def __init__(self, db: Database, tenant: str, source: str, lines: Pipe[LoaderItem]) -> None:
        self.db = db
        self.tenant = tenant
        self.source = source
        self.lines = lines
        self.rows = 0

    def _chunks(self) -> Iterator[list[bytes]]:
        while True:
            item = self.lines.get()
            if isinstance(item, bytes):
                if item == COMMIT:
                    return
                raise SnapshotError("the snapshot stream ended without its signed trailer")
            yield item

    def run(self) -> Ack:
        with applying(self.db, self.tenant) as (session, connection):
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
                # A big page cache while the indexes of a million rows are built (bounded,
                # and given back after the load).
                default_cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
                connection.exec_driver_sql(f"PRAGMA cache_size = {LOAD_CACHE_KIB}")
            state = read(connection, self.tenant, lock=True)
            chunks = self._chunks()
            first = next(chunks, [])
            if not first:
                raise SnapshotError("an empty snapshot stream")
            header = _json(first[0]).get("snapshot")
            if not isinstance(header, dict) or header.get("format") != SNAPSHOT_FORMAT:
                raise SnapshotError("not a snapshot stream (no header line)")
            if header.get("tenant") != self.tenant:
                raise SnapshotError(f"a snapshot of tenant {header.get('tenant')}")
            seq, epoch, history = int(header["seq"]), int(header["epoch"]), header["epochs"]
            if epoch < state.sealed_epoch:
                session.rollback()
                self.lines.close()
                return answer(
                    state, "fenced", f"epoch {epoch} is below the seal {state.sealed_epoch}"
                )
            self._set_aside(connection, state, seq, epoch, history)
            self._replace_rows(connection, itertools.chain([first[1:]], chunks), seq)
            state.role = "replica"
            state.head = state.applied_seq = state.complete_seq = state.primary_seq = seq
            state.log_start = seq + 1
            state.snapshot_seq = seq
            state.epochs = clipped(history, seq)
            state.sealed_epoch = max(state.sealed_epoch, epoch)
            state.source_site = self.source
            state.applied_at = None
            state.stalled = None
            save(connection, state)
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql(f"PRAGMA cache_size = {int(default_cache or -2000)}")
            session.commit()
        log.info(
            "tenant %s: loaded the snapshot of %s at seq %d (%d rows)",
            self.tenant,
            self.source,
            seq,
            self.rows,
        )
        return answer(state, "ok")

    def _set_aside(
        self, connection: Any, state: CopyState, seq: int, epoch: int, history: History
    ) -> None:
        """Quarantine this log's entries that are not in the primary's, then empty it."""
        if state.head >= state.log_start:
            kept = (
                entry
                for entry in stream_range(connection, self.tenant, state.log_start, state.head)
                if entry.seq > seq or epoch_at(history, entry.seq) != entry.epoch
            )
            quarantine.put(
                connection,
                self.tenant,
                kept,
                "diverged",
                f"主系 {self.source}（エポック {epoch}）のログにない / not in the log of the primary "
                f"{self.source} at epoch {epoch} (seq {seq}): written by a deposed primary and "
                "never acknowledged in sync mode",
                state.source_site or "unknown",
            )
        connection.execute(delete(LOG).where(LOG.c.tenant_id == self.tenant))

    def _replace_rows(self, connection: Any, chunks: Iterator[list[bytes]], seq: int) -> None:
        for table in reversed(replicated_tables()):
            connection.execute(delete(table).where(table.c.tenant_id == self.tenant))
        current: _Table | None = None
        ended = False
        for chunk in chunks:
            for raw in chunk:
                if ended:
                    raise SnapshotError("lines after the end of the snapshot")
                if raw[:1] == b"[":
                    self._rows(connection, current, raw)
                    continue
                line = _json(raw)
                if "table" in line:
                    self._finish(connection, current)
                    current = self._table(connection, line)
                elif "end" in line:
                    self._finish(connection, current)
                    end = line["end"]
                    if end.get("rows") != self.rows or end.get("seq") != seq:
                        raise SnapshotError(f"the snapshot says {end} but {self.rows} rows came")
                    ended = True
                else:
                    raise SnapshotError("an unknown line in the snapshot stream")
        if not ended:
            raise SnapshotError("the snapshot stream ended early")

    def _rows(self, connection: Connection, current: _Table | None, raw: bytes) -> None:
        """A line of rows: a JSON array of rows, each an array of its column values."""
        if current is None:
            raise SnapshotError("rows before their table line")
        try:
            rows = orjson.loads(raw)
        except ValueError:
            raise SnapshotError("a line of rows that is not JSON") from None
        insert, width, at, tenant = current.insert, current.width, current.tenant_at, self.tenant
        for values in rows:
            if type(values) is not list or len(values) != width or values[at] != tenant:
                raise SnapshotError(f"a malformed row, or another tenant's, in {current.name}")
            insert.add(values)
            if len(insert.rows) >= ROWS_PER_INSERT:
                self._flush(connection, current)

    def _flush(self, connection: Connection, current: _Table) -> None:
        coming = current.loaded + len(current.insert.rows)
        if (
            current.deferred is None
            and current.existing is not None
            and coming >= DEFER_INDEXES_AFTER
            and coming > current.existing
        ):
            current.deferred = []
            for name, create in _secondary_indexes(connection, current.name):
                quoted = name.replace('"', '""')
                connection.exec_driver_sql(f'DROP INDEX "{quoted}"')
                current.deferred.append(create)
        loaded = current.insert.flush()
        current.loaded += loaded
        self.rows += loaded

    def _finish(self, connection: Connection, current: _Table | None) -> None:
        """The table's last rows, then the indexes its load went without."""
        if current is None:
            return
        self._flush(connection, current)
        for create in current.deferred or []:
            build_index(connection, create)
        current.deferred = None

    def _table(self, connection: Any, line: dict[str, Any]) -> _Table:
        name, columns = str(line["table"]), [str(c) for c in line["columns"]]
        table = replicated_table(name)
        if table is None:
            raise SnapshotError(f"no tenant table {name!r} at this site")
        table_codec = codec(table)
        unknown = set(columns) - set(table_codec.columns)
        if unknown or "tenant_id" not in columns:
            raise SnapshotError(f"table {name}: columns {sorted(unknown)} unknown here")
        raw = set(table_codec.stored_as_json(connection.dialect.name))
        converters: list[Callable[[Any], Any] | None] = []
        for column in columns:
            stored = _stored_datetime(connection, table, column)
            if stored is not None:
                raw.add(column)
            converters.append(
                stored
                if stored is not None
                else None
                if column in raw
                else table_codec.decoders[column]
            )
        insert = BulkInsert(connection, table, columns, converters, raw=raw)
        existing = _rows_held(connection, table) if connection.dialect.name == "sqlite" else None
        if existing is not None and existing >= EXISTING_ROWS_COUNTED:
            existing = None
        return _Table(name, len(columns), columns.index("tenant_id"), insert, existing)


#: a time as the snapshot carries it (`datetime.isoformat`) and as a check compares it
_PROBE = "2000-01-02T03:04:05.000006"


def _stored_datetime(
    connection: Connection, table: Table, column: str
) -> Callable[[str], str] | None:
    """SQLite: a converter from a snapshot's time (ISO text) straight to the text SQLite
    stores, for a DateTime column whose own bind processor makes exactly that text of
    the probe; None otherwise. The text is still parsed (a malformed time is refused),
    but not formatted again field by field."""
    dialect = connection.dialect
    if dialect.name != "sqlite" or not isinstance(table.c[column].type, DateTime):
        return None
    bind = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    if bind is None:
        return None
    parse = dt.datetime.fromisoformat

    def stored(value: str) -> str:
        parsed = parse(value)
        if parsed.microsecond and parsed.tzinfo is None and value == parsed.isoformat():
            return f"{value[:10]} {value[11:]}"  # canonical: YYYY-MM-DDTHH:MM:SS.ffffff
        return str(bind(parsed))

    return (
        stored if stored(_PROBE) == bind(parse(_PROBE)) == f"{_PROBE[:10]} {_PROBE[11:]}" else None
    )


def build_index(connection: Connection, create: str) -> None:
    """Build one index the load went without (its own function: tests interrupt it)."""
    connection.exec_driver_sql(create)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except ValueError:
        raise SnapshotError("a line that is not JSON") from None
    if not isinstance(value, dict):
        raise SnapshotError("a line that is not a JSON object")
    return value
