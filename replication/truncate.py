"""Truncating a tenant's change log below what every copy (and the latest backup) holds.

The primary computes the floor — the lowest durable seq of every replica of the
placement (and of the latest backup, when backups are on) — truncates its own log
below it, and tells the replicas in each batch; a replica truncates below the floor
and never past what it has applied. Deletion goes in small transactions, so writers
wait for a moment at most.
"""

from __future__ import annotations

from sqlalchemy import delete

from replication.entries import LOG
from replication.state import applying, read, save
from yui.db.database import Database

CHUNK = 10_000


def truncate(db: Database, tenant: str, below: int, chunk: int = CHUNK) -> int:
    """Delete the tenant's entries with seq < ``below`` (a replica: and <= applied);
    returns the new first seq of the log."""
    while True:
        with applying(db, tenant) as (session, connection):
            state = read(connection, tenant, lock=True)
            limit = below if state.role == "primary" else min(below, state.applied_seq + 1)
            limit = min(limit, state.head + 1)
            if limit <= state.log_start:
                session.rollback()
                return state.log_start
            upto = min(limit, state.log_start + chunk)
            connection.execute(delete(LOG).where(LOG.c.tenant_id == tenant, LOG.c.seq < upto))
            state.log_start = upto
            save(connection, state)
            session.commit()
