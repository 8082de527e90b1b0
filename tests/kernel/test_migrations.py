"""A site's processes start together (the node and its jobs worker) and each brings the
schema to head: they must take turns, not fail with "table already exists"."""

from __future__ import annotations

import multiprocessing

import pytest

from yui.db.database import Database


def _migrate(url: str, start: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    start.wait(10)
    Database(url).migrate()


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
        assert db.at_head()
        db.migrate()  # again: nothing to do, no error
    finally:
        db.dispose()
