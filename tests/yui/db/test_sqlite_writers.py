"""SQLite: the writers of one process wait in line for the write lock (yui.db.engine,
QueuedWriter) instead of polling it through SQLite's busy handler, whose growing sleeps
(up to 100 ms) woke them long after the lock was free once every commit waited for the
disk. Observed here with SQLite's own wait turned off (busy_timeout 0): a second writer
that polled would fail at once with "database is locked"; one that waits in line starts
right after the first ends, however it ended."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from yui.db import engine as engines
from yui.db.engine import is_lock_timeout, make_engine

HOLD_SECONDS = 0.3


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")

    @event.listens_for(made, "connect")
    def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        # runs after the engine's own hook: SQLite's wait off, only the line remains
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    with made.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (writer TEXT NOT NULL)")
    yield made
    made.dispose()


def _second_writer(engine: Engine, first_began: threading.Event) -> dict[str, Any]:
    """Writes once the first writer holds the lock; when its transaction began, or why not."""
    outcome: dict[str, Any] = {}

    def write() -> None:
        first_began.wait(5)
        try:
            with engine.begin() as connection:
                outcome["began_at"] = time.monotonic()
                connection.exec_driver_sql("INSERT INTO notes VALUES ('second')")
        except OperationalError as error:
            outcome["error"] = error

    thread = threading.Thread(target=write)
    thread.start()
    outcome["thread"] = thread
    return outcome


def _writers(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.exec_driver_sql("SELECT writer FROM notes")]


def test_a_second_writer_waits_its_turn_and_starts_when_the_first_commits(
    engine: Engine,
) -> None:
    first_began = threading.Event()
    second = _second_writer(engine, first_began)
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO notes VALUES ('first')")
        first_began.set()
        time.sleep(HOLD_SECONDS)
        commit_from = time.monotonic()  # the first's commit starts after this
    committed_at = time.monotonic()
    second["thread"].join(10)

    assert "error" not in second, second.get("error")  # polled: database is locked
    assert second["began_at"] >= commit_from  # not while the first held the lock
    assert second["began_at"] - committed_at < 0.25  # at once, not at a later poll
    assert sorted(_writers(engine)) == ["first", "second"]


def test_a_rolled_back_writer_hands_the_turn_on(engine: Engine) -> None:
    first_began = threading.Event()
    second = _second_writer(engine, first_began)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO notes VALUES ('first')")
        first_began.set()
        time.sleep(HOLD_SECONDS)
        raise RuntimeError("the request failed")
    second["thread"].join(10)

    assert "error" not in second, second.get("error")
    assert _writers(engine) == ["second"]


def test_a_writer_waiting_too_long_gets_the_lock_timeout(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "LOCK_WAIT_MS", 200)
    first_began = threading.Event()
    second = _second_writer(engine, first_began)
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO notes VALUES ('first')")
        first_began.set()
        second["thread"].join(10)  # gives up while the first still holds the lock

    assert is_lock_timeout(second["error"])  # answered 503 database-busy by the API
    assert _writers(engine) == ["first"]
    with engine.begin() as connection:  # and the line still works after a give-up
        connection.exec_driver_sql("INSERT INTO notes VALUES ('third')")
    assert sorted(_writers(engine)) == ["first", "third"]
