"""The unit of work's commit: the write fence, then the change capture, then the commit,
then the on-logged callbacks — and a transaction applying shipped entries runs none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, update

from tests.support.factories import SENDAI, tenant
from yui.auth.models import StaffUser
from yui.changelog.models import ChangeLogEntry, LogHead
from yui.db.database import Database
from yui.db.fencing import NotPrimary


def refuse(code: str) -> None:
    raise NotPrimary(f"not the primary of {code}")


@pytest.fixture
def fenced(db: Database) -> Iterator[tuple[Database, list[tuple[str, int]]]]:
    """The same database, built with a write gate that refuses every tenant and an
    on-logged callback that records what it is told."""
    tenant(db)
    told: list[tuple[str, int]] = []
    fenced_db = Database(
        db.url, write_gate=refuse, on_logged=[lambda t, s, _rows: told.append((t, s))]
    )
    yield fenced_db, told
    fenced_db.dispose()


def head_and_entries(db: Database) -> tuple[int, int]:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        head = uow.session.execute(select(LogHead.last_seq)).scalar_one()
        entries = uow.session.execute(select(func.count()).select_from(ChangeLogEntry)).scalar()
    return int(head), int(entries or 0)


def add_user(db: Database, name: str) -> None:
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(StaffUser(username=name, password_hash="x", roles=["staff"]))
        uow.commit()


def test_a_refused_fence_logs_nothing_and_tells_no_one(
    db: Database, fenced: tuple[Database, list[tuple[str, int]]]
) -> None:
    fenced_db, told = fenced
    before = head_and_entries(db)
    with pytest.raises(NotPrimary):
        add_user(fenced_db, "sato")
    assert head_and_entries(db) == before
    assert told == []
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        assert uow.session.execute(select(StaffUser)).first() is None


def test_the_fence_answers_before_the_capture_looks_at_the_copy(
    db: Database, fenced: tuple[Database, list[tuple[str, int]]]
) -> None:
    """At a replica's copy the fence says "not the primary" (421: the gateway retries at
    the primary); were the capture first, its own refusal (503) would answer instead."""
    fenced_db, _told = fenced
    with db.engine.begin() as connection:
        connection.execute(update(LogHead).where(LogHead.tenant_id == SENDAI).values(replica=True))
    with pytest.raises(NotPrimary):
        add_user(fenced_db, "sato")


def test_a_commit_of_the_session_itself_runs_the_same_hooks(
    db: Database, fenced: tuple[Database, list[tuple[str, int]]]
) -> None:
    fenced_db, _told = fenced
    with fenced_db.unit_of_work(SENDAI) as uow, pytest.raises(NotPrimary):
        uow.session.add(StaffUser(username="sato", password_hash="x", roles=["staff"]))
        uow.session.commit()  # as a service function given only the session does
    told: list[tuple[str, int]] = []
    db.on_logged.append(lambda t, s, _rows: told.append((t, s)))
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(StaffUser(username="suzuki", password_hash="x", roles=["staff"]))
        uow.session.commit()
    assert told == [(SENDAI, head_and_entries(db)[0])]


def test_a_commit_tells_the_on_logged_callbacks_its_last_seq(db: Database) -> None:
    tenant(db)
    told: list[tuple[str, int]] = []
    hooked = Database(db.url, on_logged=[lambda t, s, _rows: told.append((t, s))])
    try:
        add_user(hooked, "sato")
        add_user(hooked, "suzuki")
    finally:
        hooked.dispose()
    head, entries = head_and_entries(db)
    assert told == [(SENDAI, head - 1), (SENDAI, head)] and entries == head


def test_applying_as_replica_neither_fences_nor_logs(
    db: Database, fenced: tuple[Database, list[tuple[str, int]]]
) -> None:
    fenced_db, told = fenced
    before = head_and_entries(db)
    with fenced_db.applying_as_replica(SENDAI) as uow:
        uow.session.add(
            StaffUser(tenant_id=SENDAI, username="sato", password_hash="x", roles=["staff"])
        )
        uow.session.commit()
    assert head_and_entries(db) == before and told == []
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        assert uow.session.execute(select(StaffUser.username)).scalars().all() == ["sato"]
