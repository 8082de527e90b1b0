"""An acknowledgement and a seal survive an OS crash or a power loss: the transactions that
commit them wait for the disk (SQLite synchronous=FULL; PostgreSQL synchronous_commit=on,
even on a server whose default is off)."""

from __future__ import annotations

from sqlalchemy import Connection

from replication.primary.outbox import staging_engine
from replication.state import applying
from yui.db.database import Database
from yui.db.engine import READ_ONLY, is_sqlite

SQLITE_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def _waits_for_the_disk(connection: Connection) -> bool:
    if connection.dialect.name == "sqlite":
        return connection.exec_driver_sql("PRAGMA synchronous").scalar() == SQLITE_FULL
    return connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_seals_and_replica_appends_commit_durably(db: Database) -> None:
    # A seal and a batch of shipped entries are committed in this transaction (replication.
    # state.applying, the receiver's path); the change log's entries are staged for shipping
    # through the outbox's own pool.
    with applying(db, "041009") as (_session, connection):
        assert _waits_for_the_disk(connection)
    staging = staging_engine(db.engine)
    try:
        with staging.connect() as connection:
            assert _waits_for_the_disk(connection)
    finally:
        if staging is not db.engine:
            staging.dispose()


def test_every_pooled_connection_commits_durably(db: Database) -> None:
    """Not only the first: every connection of the pool (the setting is per connection)."""
    # read-only transactions: SQLite lets one writer in at a time
    connections = [db.engine.connect().execution_options(**{READ_ONLY: True}) for _ in range(3)]
    try:
        assert all(_waits_for_the_disk(connection) for connection in connections)
    finally:
        for connection in connections:
            connection.close()
    if is_sqlite(db.engine):  # the WAL stays: FULL in WAL mode syncs each commit, not the file
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
