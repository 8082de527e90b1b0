"""The catalogue: items by code, adding items, loading the seed catalogue."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplies.catalogue.models import Item
from supplies.catalogue.schemas import ItemIn
from supplies.catalogue.seed import SEED_CATALOGUE
from supplies.needs.standards import NEED_CODES
from yui.audit import service as audit
from yui.errors import Conflict, InvalidInput, NotFound


def by_code(session: Session, code: str) -> Item:
    """The item with this code; an unknown code is refused as invalid input (nothing of a
    movement that names it is written)."""
    item = session.execute(select(Item).where(Item.code == code)).scalar_one_or_none()
    if item is None or not item.active:
        raise InvalidInput(f"品目 {code} はありません / no item {code} in the catalogue")
    return item


def get(session: Session, item_id: str) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"品目 {item_id} はありません / no item {item_id}")
    return item


def listed(session: Session) -> list[Item]:
    return list(session.execute(select(Item).order_by(Item.category, Item.code)).scalars())


def add(session: Session, body: ItemIn, *, actor: str) -> Item:
    if body.need_code and body.need_code not in NEED_CODES:
        raise InvalidInput(
            f"需要コード {body.need_code} はありません / unknown need code {body.need_code}; "
            f"choose from {', '.join(sorted(NEED_CODES))}"
        )
    if session.execute(select(Item.id).where(Item.code == body.code)).first() is not None:
        raise Conflict(f"品目コード {body.code} は使われています / item code {body.code} exists")
    item = Item(**body.model_dump())
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="supplies.item_add",
        subject_type="supplies_item",
        subject_id=item.id,
        detail={"code": item.code},
    )
    return item


def seed(session: Session, *, actor: str) -> list[Item]:
    """Add the seed catalogue's items this municipality does not have yet (by code)."""
    have = set(session.execute(select(Item.code)).scalars())
    added = [Item(**asdict(entry)) for entry in SEED_CATALOGUE if entry.code not in have]
    session.add_all(added)
    session.flush()
    if added:
        audit.record(
            session,
            actor=actor,
            action="supplies.catalogue_seed",
            subject_type="supplies_item",
            detail={"added": [item.code for item in added]},
        )
    return added
