"""Change capture: every committed change exactly once, in order, with no gaps."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from tests.support.factories import SENDAI, tenant
from yui.audit import service as audit
from yui.auth.models import StaffUser
from yui.changelog.models import ChangeLogEntry, LogHead
from yui.db.database import Database
from yui.errors import TenantScopeError


def log_of(db: Database, code: str) -> list[ChangeLogEntry]:
    with db.unit_of_work(code, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(ChangeLogEntry)
                .where(ChangeLogEntry.tenant_id == code)
                .order_by(ChangeLogEntry.seq)
            ).scalars()
        )


def test_insert_update_delete_are_logged_in_order(db: Database) -> None:
    tenant(db)
    start = len(log_of(db, SENDAI))
    with db.unit_of_work(SENDAI) as uow:
        user = StaffUser(username="sato", password_hash="x", roles=["staff"])
        uow.session.add(user)
        uow.commit()
    with db.unit_of_work(SENDAI) as uow:
        loaded = uow.session.get(StaffUser, user.id)
        assert loaded is not None
        loaded.display_name = "佐藤"
        uow.commit()
    with db.unit_of_work(SENDAI) as uow:
        loaded = uow.session.get(StaffUser, user.id)
        uow.session.delete(loaded)
        uow.commit()

    entries = log_of(db, SENDAI)[start:]
    assert [(e.table_name, e.op) for e in entries] == [
        ("staff_users", "insert"),
        ("staff_users", "update"),
        ("staff_users", "delete"),
    ]
    assert [e.seq for e in entries] == list(range(start + 1, start + 4))
    insert, update, delete = entries
    assert (
        insert.row is not None
        and insert.row["username"] == "sato"
        and insert.row["tenant_id"] == SENDAI
    )
    assert update.row == {"display_name": "佐藤"}  # only what changed
    assert delete.row is None and delete.pk == {"id": user.id}  # a tombstone
    assert all(e.epoch == 0 for e in entries)


def test_rolled_back_transaction_leaves_no_entry(db: Database) -> None:
    tenant(db)
    before = log_of(db, SENDAI)
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(StaffUser(username="ghost", password_hash="x", roles=["staff"]))
        uow.session.flush()
        uow.rollback()
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(StaffUser(username="ghost2", password_hash="x", roles=["staff"]))
        uow.session.flush()
        # leaving the block without commit rolls back
    assert log_of(db, SENDAI) == before or [e.seq for e in log_of(db, SENDAI)] == [
        e.seq for e in before
    ]
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        assert uow.session.execute(select(StaffUser)).first() is None


def test_failed_commit_leaves_no_entry_and_no_gap(db: Database) -> None:
    tenant(db)
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(StaffUser(username="dup", password_hash="x", roles=["staff"]))
        uow.commit()
    before = [e.seq for e in log_of(db, SENDAI)]
    with db.unit_of_work(SENDAI) as uow, pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        uow.session.add(StaffUser(username="dup", password_hash="y", roles=["staff"]))
        uow.commit()
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(StaffUser(username="next", password_hash="x", roles=["staff"]))
        uow.commit()
    after = [e.seq for e in log_of(db, SENDAI)]
    assert after == [*before, before[-1] + 1]


def test_one_transaction_cannot_span_tenants(db: Database) -> None:
    tenant(db)
    with db.unit_of_work(SENDAI) as uow, pytest.raises(TenantScopeError):
        uow.session.add(
            StaffUser(tenant_id="131016", username="x", password_hash="x", roles=["staff"])
        )
        uow.commit()


def test_concurrent_writers_to_one_tenant_stay_gap_free(db: Database) -> None:
    tenant(db)
    writers, per_writer = 4, 8
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for index in range(per_writer):
                with db.unit_of_work(SENDAI) as uow:
                    audit.record(
                        uow.session,
                        actor=f"w{worker}",
                        action="test.write",
                        subject_type="test",
                        subject_id=str(index),
                    )
                    uow.commit()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    entries = log_of(db, SENDAI)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    audit_inserts = [e for e in entries if e.table_name == "audit_log" and e.op == "insert"]
    assert sorted(e.row["n"] for e in audit_inserts if e.row) == list(
        range(1, writers * per_writer + 1)
    )
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        head = uow.session.get(LogHead, SENDAI)
        assert head is not None and head.last_seq == len(entries)
        assert audit.verify(uow.session).ok


def test_bulk_update_of_tenant_rows_is_refused(db: Database) -> None:
    from sqlalchemy import update

    tenant(db)
    with db.unit_of_work(SENDAI) as uow, pytest.raises(TenantScopeError):
        uow.session.execute(update(StaffUser).values(display_name="x"))


def test_raw_sql_sees_entries_committed(db: Database) -> None:
    tenant(db)
    with db.engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM change_log WHERE tenant_id = :t"), {"t": SENDAI}
        ).scalar()
    assert count == len(log_of(db, SENDAI)) > 0
