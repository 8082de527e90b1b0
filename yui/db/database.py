"""One site's database: engine, sessions, units of work, migrations."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from yui.db.context import OnLogged, WriteGate
from yui.db.engine import is_sqlite, make_engine
from yui.db.schema import MIGRATIONS, SchemaHistory
from yui.db.session import YuiSession
from yui.db.unit_of_work import UnitOfWork

#: PostgreSQL advisory lock key held while migrating ("yui-mig" in ASCII)
MIGRATION_LOCK = 0x7975692D6D6967


class Database:
    def __init__(
        self,
        url: str,
        *,
        write_gate: WriteGate | None = None,
        on_logged: Iterable[OnLogged] = (),
    ) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(bind=self.engine, class_=YuiSession, expire_on_commit=False)
        #: called after each commit that logged entries (replication wakes its sender here)
        self.on_logged: list[OnLogged] = list(on_logged)
        #: asked before each commit that writes a tenant's rows (None: a lone site takes all)
        self.write_gate: WriteGate | None = write_gate

    def unit_of_work(
        self, tenant: str | None, *, read_only: bool = False, all_tenants: bool = False
    ) -> UnitOfWork:
        return UnitOfWork(
            self._sessions,
            tenant,
            read_only=read_only,
            all_tenants=all_tenants,
            on_logged=self.on_logged,
            write_gate=self.write_gate,
        )

    def applying_as_replica(self, tenant: str) -> UnitOfWork:
        """A write transaction for replication's own work on `tenant`'s copy: applying
        shipped entries (logged as they came), and its copy state. No change capture,
        no write fence, no tenant-scope checks of writes; the caller commits, and
        leaving without a commit rolls back."""
        return UnitOfWork(self._sessions, tenant, applying=True)

    def alembic_config(self, history: SchemaHistory) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("path_separator", "os")
        config.set_main_option(
            "version_locations", os.pathsep.join(str(f) for f in history.revision_folders)
        )
        config.attributes["engine"] = self.engine
        return config

    def migrate(self, history: SchemaHistory) -> None:
        """Bring the schema to the head of the one migration history.

        Safe when several processes of a site start at once (the node and its jobs
        worker): they take turns under a lock that spans processes, and whoever comes
        second finds the schema at head and does nothing."""
        with self._migration_lock():
            if not self.at_head(history):
                command.upgrade(self.alembic_config(history), "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if is_sqlite(self.engine):
            database = self.engine.url.database
            if not database or database == ":memory:":
                yield
                return
            with open(f"{database}.migrate-lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                yield
            return
        with self.engine.connect() as connection:  # a session-level advisory lock
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()

    def at_head(self, history: SchemaHistory) -> bool:
        head = ScriptDirectory.from_config(self.alembic_config(history)).get_current_head()
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision() == head

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()
