"""One site's database: engine, sessions, units of work, migrations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from yui.db.engine import make_engine
from yui.db.fencing import WriteGate
from yui.db.session import YuiSession
from yui.db.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.sessions = sessionmaker(bind=self.engine, class_=YuiSession, expire_on_commit=False)
        #: called after each commit that logged entries (replication wakes its sender here)
        self.on_logged: list[Callable[[str, int], None]] = []
        #: asked before each commit that writes a tenant's rows (None: a lone site takes all)
        self.write_gate: WriteGate | None = None

    def unit_of_work(
        self, tenant: str | None, *, read_only: bool = False, all_tenants: bool = False
    ) -> UnitOfWork:
        return UnitOfWork(
            self.sessions,
            tenant,
            read_only=read_only,
            all_tenants=all_tenants,
            on_logged=self.on_logged,
            write_gate=self.write_gate,
        )

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        return config

    def migrate(self) -> None:
        """Bring the schema to the head of the one migration history."""
        command.upgrade(self.alembic_config(), "head")

    def at_head(self) -> bool:
        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision() == head

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()
