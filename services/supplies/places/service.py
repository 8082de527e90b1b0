"""Places: adding and changing depots and shelters, opening and closing shelters, and
which accounts work which place."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supplies.access import Reach
from supplies.places.models import DEPOT_KINDS, SHELTER_KINDS, Place, PlaceAssignment, PlaceKind
from supplies.places.schemas import PlaceFields, PlaceIn
from yui.audit import service as audit
from yui.auth.service import find_user
from yui.errors import Conflict, InvalidInput, NotFound


def now() -> datetime:
    return datetime.now(UTC)


def get(session: Session, place_id: str, reach: Reach | None = None) -> Place:
    """The place of this tenant (by id or by its code); unknown, another tenant's and, for
    a `reach` that does not cover it, another account's place all answer the same 404."""
    place = session.get(Place, place_id)
    if place is None:
        place = session.execute(select(Place).where(Place.code == place_id)).scalar_one_or_none()
    if place is None or (reach is not None and not reach.covers(place.id)):
        raise NotFound(f"場所 {place_id} はありません / no place {place_id}")
    return place


def shelter(session: Session, place_id: str, reach: Reach | None = None) -> Place:
    place = get(session, place_id, reach)
    if not PlaceKind(place.kind).is_shelter:
        raise NotFound(f"避難所 {place_id} はありません / no shelter {place_id}")
    return place


def listed(session: Session, reach: Reach, *, kind: str = "") -> list[Place]:
    query = select(Place).order_by(Place.code)
    if kind == "depot":
        query = query.where(Place.kind.in_(DEPOT_KINDS))
    elif kind == "shelter":
        query = query.where(Place.kind.in_(SHELTER_KINDS))
    if not reach.everywhere:
        query = query.where(Place.id.in_(reach.places))
    return list(session.execute(query).scalars())


def _apply(place: Place, fields: PlaceFields) -> None:
    for name, value in fields.model_dump(exclude_unset=True, exclude={"code", "kind"}).items():
        if value is not None:
            setattr(place, name, value)
    if PlaceKind(place.kind).is_depot and (
        place.capacity_day or place.capacity_night or place.toilets
    ):
        raise InvalidInput(
            "倉庫・物資拠点に収容人数やトイレはありません / a depot has no capacity or toilets"
        )


def add(session: Session, body: PlaceIn, *, actor: str) -> Place:
    if session.execute(select(Place.id).where(Place.code == body.code)).first() is not None:
        raise Conflict(f"場所コード {body.code} は使われています / place code {body.code} exists")
    place = Place(code=body.code, kind=body.kind.value, name=body.name)
    _apply(place, body)
    session.add(place)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="supplies.place_add",
        subject_type="supplies_place",
        subject_id=place.id,
        detail={"code": place.code, "kind": place.kind},
    )
    return place


def change(session: Session, place_id: str, body: PlaceFields, *, actor: str) -> Place:
    place = get(session, place_id)
    _apply(place, body)
    audit.record(
        session,
        actor=actor,
        action="supplies.place_change",
        subject_type="supplies_place",
        subject_id=place.id,
        detail={"fields": sorted(body.model_dump(exclude_unset=True))},
    )
    return place


def open_shelter(session: Session, place_id: str, reach: Reach, *, actor: str) -> Place:
    place = shelter(session, place_id, reach)
    if not place.active:
        raise Conflict("使われていない避難所です / the shelter is retired")
    if place.is_open:
        raise Conflict("この避難所は開設中です / the shelter is already open")
    place.is_open, place.opened_at, place.closed_at = True, now(), None
    audit.record(
        session,
        actor=actor,
        action="supplies.shelter_open",
        subject_type="supplies_place",
        subject_id=place.id,
    )
    return place


def close_shelter(
    session: Session, place_id: str, reach: Reach, *, actor: str, present: int
) -> Place:
    """Close a shelter nobody is checked in at (`present`: the people still there)."""
    place = shelter(session, place_id, reach)
    if not place.is_open:
        raise Conflict("この避難所は開設されていません / the shelter is not open")
    if present:
        raise Conflict(
            f"まだ {present} 人がチェックインしています。先にチェックアウトしてください / "
            f"{present} people are still checked in: check them out first"
        )
    place.is_open, place.closed_at = False, now()
    audit.record(
        session,
        actor=actor,
        action="supplies.shelter_close",
        subject_type="supplies_place",
        subject_id=place.id,
    )
    return place


def _account_name(session: Session, username: str) -> str:
    """The account's own username: a shelter or depot account's reach is found by its
    exact name, so an assignment typed in another letter case or width must be stored
    as the name the account signs in with."""
    try:
        return find_user(session, username).username
    except NotFound:
        raise InvalidInput(
            f"アカウント {username} はこの自治体にありません / no account {username} here"
        ) from None


def assign(session: Session, place_id: str, username: str, *, actor: str) -> PlaceAssignment:
    place = get(session, place_id)
    username = _account_name(session, username)
    exists = session.execute(
        select(func.count())
        .select_from(PlaceAssignment)
        .where(PlaceAssignment.place_id == place.id, PlaceAssignment.username == username)
    ).scalar_one()
    if exists:
        raise Conflict(f"{username} はすでに割り当て済みです / {username} is already assigned")
    assignment = PlaceAssignment(
        place_id=place.id, username=username, assigned_by=actor, assigned_at=now()
    )
    session.add(assignment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="supplies.place_assign",
        subject_type="supplies_place",
        subject_id=place.id,
        detail={"username": username},
    )
    return assignment


def unassign(session: Session, place_id: str, username: str, *, actor: str) -> None:
    place = get(session, place_id)
    # an account removed since: its assignment is still taken away by the name given
    with suppress(NotFound):
        username = find_user(session, username).username
    assignment = session.execute(
        select(PlaceAssignment).where(
            PlaceAssignment.place_id == place.id, PlaceAssignment.username == username
        )
    ).scalar_one_or_none()
    if assignment is None:
        raise NotFound(f"{username} は割り当てられていません / {username} is not assigned here")
    session.delete(assignment)
    audit.record(
        session,
        actor=actor,
        action="supplies.place_unassign",
        subject_type="supplies_place",
        subject_id=place.id,
        detail={"username": username},
    )


def assignments(session: Session, place_id: str) -> list[PlaceAssignment]:
    place = get(session, place_id)
    return list(
        session.execute(
            select(PlaceAssignment)
            .where(PlaceAssignment.place_id == place.id)
            .order_by(PlaceAssignment.username)
        ).scalars()
    )
