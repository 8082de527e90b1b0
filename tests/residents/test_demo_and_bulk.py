"""The synthetic population, and the kernel's logged bulk insert that imports use."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from residents.demo.generator import Generator
from residents.registry.models import Household, new_id
from residents.search.normalize import fold
from tests.residents.conftest import log_entries
from tests.support.factories import CHIYODA, SENDAI, tenant
from yui.auth.models import StaffUser
from yui.changelog.bulk_insert import Encoded, insert_columns, insert_rows
from yui.db.database import Database
from yui.errors import TenantScopeError


def test_the_population_is_plausible() -> None:
    people = list(Generator(SENDAI, seed=3).residents(5000))
    assert len(people) == 5000 and len({p.row["宛名番号"] for p in people}) == 5000
    households = Counter(p.row["世帯番号"] for p in people)
    sizes = Counter(households.values())
    assert 0.30 < sizes[1] / len(households) < 0.46  # one-person households, as in the census
    assert max(households.values()) <= 6
    heads = Counter(p.row["世帯番号"] for p in people if p.row["続柄"] == "世帯主")
    assert set(heads.values()) == {1} and len(heads) == len(households)
    assisted = sum(1 for p in people if p.assistance is not None)
    assert 0.02 < assisted / len(people) < 0.12
    foreign = sum(1 for p in people if p.row["国籍・地域"])
    assert 0.005 < foreign / len(people) < 0.06
    for person in people[:200]:
        family, _, given = person.row["氏名"].partition("\u3000")
        kana_family, _, kana_given = person.row["氏名の振り仮名"].partition("\u3000")
        assert family and given and kana_family and kana_given
        assert fold(kana_family + kana_given)  # a reading that folds
    assert all(p.row["町字"].endswith("丁目") for p in people)
    again = [p.row for p in Generator(SENDAI, seed=3).residents(5000)]
    assert again == [p.row for p in people]  # the same seed, the same people


def test_bulk_rows_are_logged_after_earlier_changes(db: Database) -> None:
    tenant(db)
    before = len(log_entries(db, SENDAI))
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(StaffUser(username="first", password_hash="x", roles=["staff"]))
        insert_rows(
            uow.session, Household, [{"id": new_id(), "household_no": f"B{n}"} for n in range(3)]
        )
        insert_rows(
            uow.session,
            Household,
            [{"id": new_id(), "household_no": "B9", "created_at": datetime.now(UTC)}],
        )
        uow.commit()
    entries = log_entries(db, SENDAI)[before:]
    assert [(e.table_name, e.op) for e in entries] == [("staff_users", "insert")] + [
        ("residents_households", "insert")
    ] * 4
    assert {e.tx_seq for e in entries} == {entries[0].seq}
    assert [e.seq for e in entries] == list(range(before + 1, before + 6))
    row = entries[1].row
    assert (
        row is not None and row["tenant_id"] == SENDAI and row["created_at"]
    )  # the default, logged
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        stored = uow.session.execute(
            select(Household).where(Household.household_no == "B0")
        ).scalar_one()
        assert stored.id == entries[1].pk["id"]


def test_bulk_insert_refuses_other_tenants_and_rolls_back_cleanly(db: Database) -> None:
    tenant(db)
    tenant(db, CHIYODA, "千代田区")
    before = len(log_entries(db, SENDAI))
    with db.unit_of_work(SENDAI) as uow, pytest.raises(TenantScopeError):
        insert_rows(
            uow.session, Household, [{"id": new_id(), "household_no": "X", "tenant_id": CHIYODA}]
        )
    with db.unit_of_work(None) as uow, pytest.raises(TenantScopeError):
        insert_rows(uow.session, Household, [{"id": new_id(), "household_no": "X"}])
    with db.unit_of_work(SENDAI) as uow:
        insert_rows(uow.session, Household, [{"id": new_id(), "household_no": "Y"}])
        uow.rollback()
    assert len(log_entries(db, SENDAI)) == before
    with db.unit_of_work(SENDAI) as uow, pytest.raises(ValueError, match="no attribute"):
        insert_rows(
            uow.session, Household, [{"id": new_id(), "household_no": "Z", "colour": "red"}]
        )


def test_bulk_insert_asks_the_write_gate(db: Database) -> None:
    from yui.db.fencing import NotPrimary

    tenant(db)

    def gate(code: str) -> None:
        raise NotPrimary(f"not primary for {code}")

    db.write_gate = gate
    with db.unit_of_work(SENDAI) as uow, pytest.raises(NotPrimary):
        insert_rows(uow.session, Household, [{"id": new_id(), "household_no": "G"}])


def test_bulk_insert_refuses_encoded_json_that_differs_from_the_values(db: Database) -> None:
    """JSON made by the caller (an import's parser process) is checked against the values:
    an entry a replica would apply differently is never written."""
    tenant(db)
    before = len(log_entries(db, SENDAI))
    ids = [new_id(), new_id()]
    good = Encoded(frozenset({"household_no"}), ['"household_no":"E1"', '"household_no":"E2"'])
    wrong = Encoded(frozenset({"household_no"}), ['"household_no":"E1"', '"household_no":"X"'])
    with db.unit_of_work(SENDAI) as uow, pytest.raises(ValueError, match="does not match"):
        insert_columns(
            uow.session, Household, {"id": ids, "household_no": ["E1", "E2"]}, encoded=wrong
        )
    assert len(log_entries(db, SENDAI)) == before
    with db.unit_of_work(SENDAI) as uow:
        insert_columns(
            uow.session, Household, {"id": ids, "household_no": ["E1", "E2"]}, encoded=good
        )
        uow.commit()
    entries = log_entries(db, SENDAI)[before:]
    assert [(e.pk["id"], e.row and e.row["household_no"]) for e in entries] == [
        (ids[0], "E1"),
        (ids[1], "E2"),
    ]
