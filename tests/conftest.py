"""Shared fixtures: a migrated database on SQLite and (when a server is given) PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from yui.db.database import Database
from yui.settings import Settings, load_settings

POSTGRES_URL = os.environ.get("YUI_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("YUI_REQUIRE_POSTGRES") == "1"
TEST_SECRET = "test-signing-key-" + "k" * 32


def _postgres_url(name: str) -> str:
    assert POSTGRES_URL
    return sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new database of its own; ``template``: a copy of that database (CREATE DATABASE
    ... TEMPLATE copies its files: far quicker than running the migrations again)."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("YUI_REQUIRE_POSTGRES=1 but YUI_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server (set YUI_TEST_POSTGRES_URL; `make test` does)")
    name = f"yui_t_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield _postgres_url(name)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class MigratedSchemas:
    """A database at the head of SCHEMA_HISTORY per backend, migrated once per test
    session (per worker process), which tests get copies of instead of migrating their
    own. The migrations themselves are tested from empty databases (tests/yui/db,
    tests/assembly/test_schema.py), and Database.migrate still runs on every copy (it
    finds the head and does nothing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._postgres_owner: Iterator[str] | None = None  # drops the template at the end

    def sqlite_copy(self, path: Path) -> str:
        if self._sqlite is None:
            template = self.folder / "head.db"
            built = Database(f"sqlite:///{template}")
            built.migrate(SCHEMA_HISTORY)
            built.dispose()  # the last connection's close checkpoints the WAL into the file
            self._sqlite = template
        shutil.copyfile(self._sqlite, path)
        return f"sqlite:///{path}"

    def postgres_template(self) -> str:
        if self._postgres is None:
            self._postgres_owner = _fresh_postgres_database()
            url = next(self._postgres_owner)
            built = Database(url)
            built.migrate(SCHEMA_HISTORY)
            built.dispose()  # a template must have no connection while it is copied
            self._postgres = sa.make_url(url).database
        assert self._postgres
        return self._postgres

    def close(self) -> None:
        if self._postgres_owner is not None:
            self._postgres_owner.close()


@pytest.fixture(scope="session")
def migrated_schemas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedSchemas]:
    schemas = MigratedSchemas(tmp_path_factory.mktemp("schema-head"))
    yield schemas
    schemas.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_schemas: MigratedSchemas
) -> Iterator[str]:
    """Every database test runs on both backends. An empty database, unless the test also
    asks for ``db`` (which would migrate it first thing): then a copy of one at head.
    (migrated_schemas is a parameter, not request.getfixturevalue: that fails inside an
    async test's set-up.)"""
    migrated = migrated_schemas if "db" in request.fixturenames else None
    if request.param == "sqlite":
        path = tmp_path / "yui.db"
        yield migrated.sqlite_copy(path) if migrated else f"sqlite:///{path}"
    else:
        yield from _fresh_postgres_database(migrated.postgres_template() if migrated else None)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate(SCHEMA_HISTORY)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        site="test-site",
        data_dir=tmp_path,
        database_url=database_url,
        token_secret=TEST_SECRET,
        log_json=False,
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db, migrate=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
