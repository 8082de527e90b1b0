"""Finding residents by name, address, household or date of birth.

A name is folded (search.normalize.fold) and matched as a prefix of the stored key:
a kana query against the reading, anything else against the written name. Prefix
matches are index range scans, `key >= p AND key < successor(p)`, on both SQLite and
PostgreSQL. Pages are ordered by (key, id) and continue with a cursor that holds the
last (key, id), so paging is stable while rows are added and cheap however deep.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from residents.registry import fields
from residents.registry.models import Household, Resident, Status
from residents.registry.service import visible_to_non_staff
from residents.search.normalize import address_key, fold, is_kana, successor
from residents.search.schemas import SearchQuery
from yui.audit import service as audit
from yui.errors import InvalidInput


@dataclass(frozen=True)
class Page:
    residents: list[Resident]
    household_numbers: dict[str, str]
    next_cursor: str | None


def _prefix(column: InstrumentedAttribute[str], prefix: str) -> ColumnElement[bool]:
    upper = successor(prefix)
    if upper is None:
        return column >= prefix
    return and_(column >= prefix, column < upper)


def _encode_cursor(key: str, resident_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, resident_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key, resident_id = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(key, str) or not isinstance(resident_id, str):
            raise ValueError(cursor)
    except (ValueError, binascii.Error, TypeError):
        raise InvalidInput("cursor が正しくありません / invalid cursor") from None
    return key, resident_id


def _statement(
    query: SearchQuery, *, non_staff: bool
) -> tuple[Select[Resident], InstrumentedAttribute[str]]:
    conditions: list[ColumnElement[bool]] = []
    order: InstrumentedAttribute[str] = Resident.kana_key
    name = fold(query.q) if query.q.strip() else ""
    place = address_key(query.address) if query.address.strip() else ""
    if name:
        order = Resident.kana_key if is_kana(name) else Resident.name_key
        conditions.append(_prefix(order, name))
    if place:
        conditions.append(_prefix(Resident.address_key, place))
        if not name:
            order = Resident.address_key
    if query.birth_date is not None:
        conditions.append(Resident.birth_date == query.birth_date)
    statement = select(Resident)
    if query.household_no.strip():
        number = fields.record_number(query.household_no, "世帯番号 / household number")
        statement = statement.join(Household, Household.id == Resident.household_id)
        conditions.append(Household.household_no == number)
    if not conditions:
        raise InvalidInput(
            "氏名・住所・生年月日・世帯番号のいずれかを指定してください / give a name, an address, "
            "a date of birth or a household number"
        )
    if non_staff:
        conditions.append(visible_to_non_staff())
    elif not query.include_inactive:
        conditions.append(Resident.status == Status.ACTIVE)
    return statement.where(*conditions), order


def find(session: Session, query: SearchQuery, *, non_staff: bool = False) -> Page:
    """One page of residents matching `query`, in (key, id) order.

    `non_staff`: the output goes beyond the municipality's staff (a shelter, a port
    read by a citizen-facing service): DV-blocked and former residents never appear.
    """
    try:
        statement, order = _statement(query, non_staff=non_staff)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if query.cursor:
        after_key, after_id = _decode_cursor(query.cursor)
        statement = statement.where(
            or_(order > after_key, and_(order == after_key, Resident.id > after_id))
        )
    rows = list(
        session.execute(statement.order_by(order, Resident.id).limit(query.limit + 1)).scalars()
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = _encode_cursor(getattr(last, order.key), last.id)
    numbers: dict[str, str] = {}
    household_ids = {resident.household_id for resident in rows}
    if household_ids:
        numbers = dict(
            session.execute(
                select(Household.id, Household.household_no).where(Household.id.in_(household_ids))
            ).all()
        )
    return Page(rows, numbers, cursor)


def search(session: Session, query: SearchQuery, *, actor: str) -> Page:
    """A staff search: the results are personal data, so the search is audited."""
    page = find(session, query)
    audit.record(
        session,
        actor=actor,
        action="resident.search",
        subject_type="resident",
        detail={
            "query": _query_detail(query),
            "results": [resident.id for resident in page.residents],
        },
    )
    return page


def _query_detail(query: SearchQuery) -> dict[str, Any]:
    return query.model_dump(mode="json", exclude_defaults=True, exclude={"limit"})
