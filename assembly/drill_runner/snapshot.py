"""One site's copy read in one snapshot: the checker's rows, quarantine and digest.

A copy that is still applying entries (a replica catching up, a target rejoining) changes
between two transactions. Read in several, its rows could be older than the seq its
digest reports, and the checker would take a copy caught up to the primary's seq for one
lacking acknowledged writes (docs/drills.md, "Service workloads", the hunt of the
unconverged copy). Here every read of a copy shares one transaction
(:func:`replication.sql.consistent_read`: a read transaction of SQLite's WAL, PostgreSQL's
REPEATABLE READ): the rows are those of the seq the digest gives. It never takes SQLite's
write lock, which the site's own writers need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.orm import sessionmaker

from replication.sql import consistent_read
from yui.db.database import Database
from yui.db.session import YuiSession
from yui.db.unit_of_work import UnitOfWork

__all__ = ["CopySnapshot", "copy_snapshot"]


class CopySnapshot:
    """A copy as one read transaction sees it: units of work for each tenant (read only)
    and the connection, for what is read without the ORM (quarantine, digest)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # bound to the open transaction: each unit of work joins it, and closing one
        # leaves it open for the next
        self._sessions = sessionmaker(bind=connection, class_=YuiSession, expire_on_commit=False)

    def unit_of_work(
        self, tenant: str | None, *, read_only: bool = False, all_tenants: bool = False
    ) -> UnitOfWork:
        if not read_only:
            raise ValueError("a copy's snapshot is read only")
        return UnitOfWork(self._sessions, tenant, read_only=True, all_tenants=all_tenants)


@contextmanager
def copy_snapshot(db: Database) -> Iterator[CopySnapshot]:
    """One snapshot of the copy in ``db``, for the ``with`` block."""
    with consistent_read(db.engine) as connection:
        yield CopySnapshot(connection)
