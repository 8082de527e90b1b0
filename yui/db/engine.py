"""Engines: SQLite (WAL, the embedded default) or PostgreSQL by URL."""

from __future__ import annotations

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


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failed statement's exception (logged with its traceback) names the statement, not
    # its values: those are residents' names, addresses and phone numbers.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
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
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": LOCK_WAIT_MS / 1000}, **kwargs
    )

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
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_lock_timeout(error: OperationalError) -> bool:
    """A lock waited for longer than :data:`LOCK_WAIT_MS` (either database)."""
    if getattr(error.orig, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return "database is locked" in str(error.orig)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
