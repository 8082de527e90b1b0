"""Shared fixtures: a migrated database on SQLite and (when a server is given) PostgreSQL."""

from __future__ import annotations

import os
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


def _fresh_postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("YUI_REQUIRE_POSTGRES=1 but YUI_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server (set YUI_TEST_POSTGRES_URL; `make test` does)")
    name = f"yui_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every database test runs on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'yui.db'}"
    else:
        yield from _fresh_postgres_database()


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
