"""Tenant isolation across every tenant table, enforced by the kernel in one place."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import itertools
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from assembly.site import all_metadata
from tests.support.factories import CHIYODA, SENDAI, tenant
from yui.db.base import Base, TenantScoped
from yui.db.database import Database
from yui.errors import InvalidInput, TenantScopeError
from yui.tenancy.codes import check_digit, is_valid_code, validate_code
from yui.tenancy.service import create_tenant, list_tenants


@pytest.mark.parametrize("code", ["041009", "131016", "011002", "271004", "472018"])
def test_real_codes_are_valid(code: str) -> None:
    assert is_valid_code(code)
    assert validate_code(code) == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("041008", "check digit"),
        ("04100", "6 digits"),
        ("0410099", "6 digits"),
        ("04100a", "6 digits"),
        ("０４１００９", "6 digits"),
        ("", "6 digits"),
    ],
)
def test_bad_codes_are_refused_with_the_reason(code: str, reason: str) -> None:
    assert not is_valid_code(code)
    with pytest.raises(ValueError, match=reason):
        validate_code(code)


def test_check_digit_when_remainder_is_zero_or_one() -> None:
    # weighted sum 11 -> remainder 0 -> 11 -> units digit 1; remainder 1 -> 10 -> 0
    assert check_digit("00011") == (11 - (1 * 3 + 1 * 2) % 11) % 10
    assert all(0 <= check_digit(f"{n:05d}") <= 9 for n in range(0, 100000, 997))


def _tenant_models() -> list[type[Any]]:
    all_metadata()
    return sorted(
        (m.class_ for m in Base.registry.mappers if issubclass(m.class_, TenantScoped)),
        key=lambda cls: cls.__tablename__,
    )


_counter = itertools.count(1)


def _dummy(column: sa.Column[Any]) -> Any:
    """A value of the column's type, unique enough for unique constraints."""
    n = next(_counter)
    kind = column.type
    if isinstance(kind, sa.Enum) and kind.enum_class is not None:
        return next(iter(kind.enum_class))
    if isinstance(kind, sa.Enum):
        return kind.enums[0]
    try:
        python_type = kind.python_type
    except NotImplementedError:
        return None
    if python_type is bool:
        return False
    if python_type is int:
        return n
    if python_type is float:
        return float(n)
    if python_type is decimal.Decimal:  # Numeric (quantities, areas)
        return decimal.Decimal(1)  # one of everything: every CHECK between quantities holds
    if python_type is dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    if python_type is dt.date:
        return dt.date(2000, 1, 1)
    if python_type is uuid.UUID:
        return uuid.uuid4()
    if python_type in (dict, list):
        return {} if python_type is dict else []
    if isinstance(python_type, type) and issubclass(python_type, enum.Enum):
        return next(iter(python_type))
    length = getattr(kind, "length", None) or 32
    return f"{n:x}"[:length].rjust(min(length, 6), "0")


def _insert_row(
    connection: sa.Connection, table: sa.Table, tenant_code: str, made: dict[str, dict[str, Any]]
) -> None:
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name == "tenant_id":
            row[column.name] = tenant_code
        elif column.foreign_keys:
            target = next(iter(column.foreign_keys)).column
            row[column.name] = made.get(target.table.name, {}).get(target.name)
        elif column.nullable and not column.primary_key:
            continue
        else:
            row[column.name] = _dummy(column)
    connection.execute(table.insert().values(**row))
    made[table.name] = row


def test_a_query_that_forgets_the_tenant_sees_only_its_own_tenant(db: Database) -> None:
    """Rows of both tenants in every tenant table; every model queried bare, in scope of A."""
    models = _tenant_models()
    tables = [t for t in all_metadata().sorted_tables if any(m.__table__ is t for m in models)]
    with db.engine.begin() as connection:
        for code in (SENDAI, CHIYODA):
            made: dict[str, dict[str, Any]] = {}
            for table in tables:
                _insert_row(connection, table, code, made)

    for model in models:
        with db.unit_of_work(SENDAI, read_only=True) as uow:
            rows = uow.session.execute(select(model)).scalars().all()
            assert rows, f"{model.__tablename__}: tenant A's own row missing"
            assert {row.tenant_id for row in rows} == {SENDAI}, model.__tablename__
            count = uow.session.execute(select(sa.func.count()).select_from(model)).scalar()
            assert count == len(rows), model.__tablename__
        with db.unit_of_work(CHIYODA, read_only=True) as uow:
            # the same statement in another tenant's scope (the scope's option is built once
            # per tenant): that tenant's rows alone
            rows = uow.session.execute(select(model)).scalars().all()
            assert {row.tenant_id for row in rows} == {CHIYODA}, model.__tablename__
        with db.unit_of_work(None, read_only=True) as uow:
            assert uow.session.execute(select(model)).first() is None, (
                "no tenant in scope sees nothing"
            )


def test_writing_or_changing_another_tenants_row_is_refused(db: Database) -> None:
    from yui.auth.models import StaffUser

    tenant(db, SENDAI)
    tenant(db, CHIYODA, "千代田区")
    with db.unit_of_work(CHIYODA) as uow:
        other = StaffUser(username="b-user", password_hash="x", roles=["staff"])
        uow.session.add(other)
        uow.commit()
    with db.unit_of_work(SENDAI) as uow:
        assert uow.session.get(StaffUser, other.id) is None  # not visible by primary key either
        stray = uow.session.merge(other, load=False)
        stray.display_name = "changed from A"
        with pytest.raises(TenantScopeError):
            uow.session.flush()
    with db.unit_of_work(None) as uow, pytest.raises(TenantScopeError):
        uow.session.add(StaffUser(username="nobody", password_hash="x", roles=["staff"]))
        uow.session.flush()


def test_tenant_create_validates_and_lists(db: Database) -> None:
    create_tenant(db, SENDAI, "仙台市")
    create_tenant(db, CHIYODA, "千代田区")
    with pytest.raises(InvalidInput, match="check digit"):
        create_tenant(db, "041008", "x")
    with pytest.raises(InvalidInput, match="1 to 100"):
        create_tenant(db, "011002", "   ")
    listed = [(t.tenant_id, t.prefecture, t.name) for t in list_tenants(db)]
    assert listed == [(SENDAI, "宮城県", "仙台市"), (CHIYODA, "東京都", "千代田区")]
