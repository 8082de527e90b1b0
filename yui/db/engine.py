"""Engines: SQLite (WAL, the embedded default) or PostgreSQL by URL."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

#: execution option that asks for a read-only transaction (SQLite: deferred BEGIN)
READ_ONLY = "yui_read_only"
#: the longest a statement waits for a lock before it fails (SQLite's busy timeout, and
#: PostgreSQL's lock_timeout): a writer stuck behind a stalled transaction gets a 503,
#: never a request (or a site's shutdown) that hangs for ever
LOCK_WAIT_MS = 30_000
#: how long a request waits for a free pooled connection before it is answered 503 (a site
#: whose pool is exhausted is busy, not broken: the client retries, here or elsewhere)
POOL_WAIT_SECONDS = 30.0


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failed statement's exception (logged with its traceback) names the statement, not
    # its values: those are residents' names, addresses and phone numbers.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", POOL_WAIT_SECONDS)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    if parsed.get_backend_name() == "postgresql":
        connect_args = kwargs.setdefault("connect_args", {})
        # synchronous_commit on whatever the server's default: a commit (a seal, the entries
        # a replica acknowledges, the primary's own write) is flushed before it returns.
        connect_args.setdefault(
            "options", f"-c lock_timeout={LOCK_WAIT_MS} -c synchronous_commit=on"
        )
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # The same 15 connections as SQLAlchemy's default (5 + 10 overflow), all kept: an
        # overflow connection is closed when returned, and opening one again (WAL and the
        # other pragmas) was a visible cost of a site busy with a thousand tenants.
        kwargs.setdefault("pool_size", 15)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", POOL_WAIT_SECONDS)
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": LOCK_WAIT_MS / 1000}
    if database and database != ":memory:":
        connect_args["factory"] = _queue_of(str(Path(database).resolve()))
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: every commit syncs the WAL before it returns. NORMAL syncs only at
        # checkpoints, so an OS crash or power loss could undo a seal or entries this
        # site already acknowledged (docs/replication.md, "Durability").
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write transaction takes the write lock at BEGIN: SQLite cannot upgrade a
        # read lock under WAL without SQLITE_BUSY, and this serializes writers of a
        # tenant so change-log seqs follow commit order.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
        driver = connection.connection.driver_connection
        queued = isinstance(driver, QueuedWriter)
        if queued and not driver.take_turn():
            # what SQLite's own busy timeout would have said after the same wait
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if queued:
                driver.end_turn()
            raise

    return engine


class QueuedWriter(sqlite3.Connection):
    """A SQLite connection whose write transactions wait in line, within this process, on
    one lock per database file before BEGIN IMMEDIATE, and hand it on when they end.

    Why: SQLite's busy handler polls a locked database with growing sleeps (1, 2, 5, 10,
    15 … 100 ms). Since every commit waits for the disk (synchronous=FULL), a process's
    writers often found the lock taken and slept past its release, again and again (the
    replicated p99's tail: docs/benchmarks.md, "SQLite writers in line"). The line only
    orders this process's writers; SQLite's lock still decides (other processes), and
    the wait is bounded by the same LOCK_WAIT_MS."""

    #: the line of this database file (one class per file: see _queue_of)
    line: threading.Lock
    #: the lock this connection holds while its write transaction is open
    _turn: threading.Lock | None = None

    def take_turn(self) -> bool:
        """Wait for this file's line (at most LOCK_WAIT_MS); False when the wait ran out."""
        line = self.line
        if not line.acquire(timeout=LOCK_WAIT_MS / 1000):
            return False
        self._turn = line
        return True

    def end_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

    # Every way a transaction ends hands the turn on: SQLAlchemy commits and rolls back
    # through these (a pool's reset on return is a rollback), and closes a broken one.
    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()

    def __del__(self) -> None:
        self.end_turn()


_QUEUES: dict[str, type[QueuedWriter]] = {}
_QUEUES_GUARD = threading.Lock()


def _queue_of(path: str) -> type[QueuedWriter]:
    """The connection class of one database file: every engine on it shares its line."""
    with _QUEUES_GUARD:
        if path not in _QUEUES:
            _QUEUES[path] = type("QueuedWriter", (QueuedWriter,), {"line": threading.Lock()})
        return _QUEUES[path]


def _fresh_lines() -> None:
    # a forked child has none of its parent's threads: no turn there is held
    global _QUEUES_GUARD
    _QUEUES_GUARD = threading.Lock()
    for queue in _QUEUES.values():
        queue.line = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lines)


def is_lock_timeout(error: OperationalError) -> bool:
    """A lock waited for longer than :data:`LOCK_WAIT_MS` (either database)."""
    if getattr(error.orig, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return "database is locked" in str(error.orig)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
