"""The audit chain: altered, inserted and deleted entries are found, first one named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from assembly.cli.main import app
from tests.support.factories import SENDAI, tenant
from yui.audit import service as audit
from yui.audit.models import AuditEntry
from yui.db.database import Database
from yui.db.unit_of_work import UnitOfWork


def _write(db: Database, count: int) -> None:
    with db.unit_of_work(SENDAI) as uow:
        for n in range(count):
            audit.record(
                uow.session,
                actor="sato",
                action="resident.read",
                subject_type="resident",
                subject_id=f"r{n}",
                detail={"fields": ["name"]},
            )
        uow.commit()


def _verify(db: Database) -> audit.VerifyResult:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return audit.verify(uow.session)


@pytest.fixture
def chain(db: Database) -> Database:
    tenant(db)
    _write(db, 5)
    assert _verify(db) == audit.VerifyResult(True, 5)
    return db


def _sql(db: Database, statement: str, **params: object) -> None:
    with db.engine.begin() as connection:  # an attacker with database access
        connection.execute(text(statement), params)


def test_altered_entry(chain: Database) -> None:
    _sql(chain, "UPDATE audit_log SET actor = 'someone-else' WHERE n = 3")
    result = _verify(chain)
    assert not result.ok and result.first_bad_n == 3 and "altered" in str(result.problem)


def test_deleted_entry_in_the_middle(chain: Database) -> None:
    _sql(chain, "DELETE FROM audit_log WHERE n = 2")
    result = _verify(chain)
    assert not result.ok and result.first_bad_n == 2 and "deleted" in str(result.problem)


def test_deleted_entries_at_the_end(chain: Database) -> None:
    _sql(chain, "DELETE FROM audit_log WHERE n >= 4")
    result = _verify(chain)
    assert not result.ok and result.first_bad_n == 4 and "deleted" in str(result.problem)


def test_inserted_entry(chain: Database) -> None:
    # Renumber 4..5 up by one and forge a self-consistent entry 4: only the chain tells.
    _sql(chain, "UPDATE audit_log SET n = n + 10 WHERE n >= 4")
    _sql(chain, "UPDATE audit_log SET n = n - 9 WHERE n >= 14")
    with chain.unit_of_work(SENDAI, read_only=True) as uow:
        third = uow.session.execute(select(AuditEntry).where(AuditEntry.n == 3)).scalar_one()
        fields = {
            "tenant_id": SENDAI,
            "n": 4,
            "at": third.at.isoformat() if third.at.tzinfo else third.at.isoformat() + "+00:00",
            "actor": "x",
            "action": "forged",
            "subject_type": "resident",
            "subject_id": "",
            "detail": {},
        }
        forged_hash = audit.entry_hash("f" * 64, fields)
    _sql(
        chain,
        "INSERT INTO audit_log (tenant_id, n, at, actor, action, subject_type, subject_id, detail, prev_hash, hash) "
        "VALUES (:t, 4, :at, 'x', 'forged', 'resident', '', '{}', :p, :h)",
        t=SENDAI,
        at=third.at,
        p="f" * 64,
        h=forged_hash,
    )
    result = _verify(chain)
    assert not result.ok and result.first_bad_n == 4 and "inserted" in str(result.problem)


def test_the_orm_refuses_to_change_an_entry(chain: Database) -> None:
    with chain.unit_of_work(SENDAI) as uow:
        entry = uow.session.execute(select(AuditEntry).where(AuditEntry.n == 1)).scalar_one()
        entry.actor = "rewritten"
        with pytest.raises(PermissionError, match="append-only"):
            uow.commit()


def test_cli_reports_the_first_bad_entry(
    chain: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUI_DATABASE_URL", chain.url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--tenant", SENDAI])
    assert ok.exit_code == 0 and "5 entries" in ok.output
    _sql(chain, "UPDATE audit_log SET detail = '{\"fields\": []}' WHERE n = 2")
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "entry 2 altered" in bad.output


def _entry(uow: UnitOfWork, subject: str) -> None:
    audit.record(uow.session, actor="sato", action="resident.read", subject_type="resident",
                 subject_id=subject)  # fmt: skip


def test_a_transaction_reads_the_head_once_and_the_next_one_reads_it_again(
    chain: Database,
) -> None:
    """Several entries of one transaction continue from the head it locked (read once);
    a transaction after a rollback or a commit reads the head again, so an entry another
    writer appended in between is continued, not overwritten."""
    with chain.unit_of_work(SENDAI) as uow:
        _entry(uow, "rolled back")
        uow.rollback()
        _entry(uow, "a")
        _entry(uow, "b")
        uow.commit()
        with chain.unit_of_work(SENDAI) as other:
            _entry(other, "between")
            other.commit()
        _entry(uow, "c")
        uow.commit()
    result = _verify(chain)
    assert result.ok and result.entries == 5 + 4, result
    with chain.unit_of_work(SENDAI, read_only=True) as uow:
        subjects = uow.session.execute(
            select(AuditEntry.subject_id).order_by(AuditEntry.n)
        ).scalars()
        assert list(subjects)[5:] == ["a", "b", "between", "c"]
