"""A site's processes start together (the node and its jobs worker) and each brings the
schema to head: they must take turns, not fail with "table already exists"."""

from __future__ import annotations

import multiprocessing

import pytest

from assembly.schema import SCHEMA_HISTORY
from yui.db.database import Database


def _migrate(url: str, start: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    start.wait(10)
    Database(url).migrate(SCHEMA_HISTORY)


@pytest.mark.parametrize("processes", [4])
def test_processes_migrating_one_database_at_once_all_succeed(
    database_url: str, processes: int
) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_migrate, args=(database_url, start)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * processes
    db = Database(database_url)
    try:
        assert db.at_head(SCHEMA_HISTORY)
        db.migrate(SCHEMA_HISTORY)  # again: nothing to do, no error
    finally:
        db.dispose()


def test_accounts_that_fold_to_one_name_survive_the_username_key_migration(
    database_url: str,
) -> None:
    """Migration 0009 keys usernames NFKC case-folded and unique; two existing accounts
    that fold to one name must not stop the upgrade: the later keeps a suffixed key."""
    from alembic import command
    from sqlalchemy import text

    db = Database(database_url)
    try:
        command.upgrade(db.alembic_config(SCHEMA_HISTORY), "0008")
        with db.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO tenants VALUES ('041009', '仙台市', '宮城県', :now)"),
                {"now": "2026-01-01 00:00:00+00:00"},
            )
            for user_id, name in (("a" * 36, "pa-staff"), ("b" * 36, "PA-STAFF")):
                connection.execute(
                    text(
                        "INSERT INTO staff_users (id, username, display_name, password_hash,"
                        " roles, disabled, created_at, tenant_id) VALUES (:id, :name, '', 'x',"
                        " '[\"staff\"]', false, '2026-01-01 00:00:00+00:00', '041009')"
                    ),
                    {"id": user_id, "name": name},
                )
        db.migrate(SCHEMA_HISTORY)
        with db.engine.connect() as connection:
            keys = dict(
                connection.execute(text("SELECT username, username_key FROM staff_users")).all()
            )
        assert keys == {"pa-staff": "pa-staff", "PA-STAFF": "pa-staff#" + "b" * 36}
    finally:
        db.dispose()
