"""The registry's domain operations: plain functions over a session of a unit of work.

Every write goes through the caller's unit of work (so the change capture logs it)
and is audited in the same transaction; every read of a resident's details by
staff is audited too. The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from residents.assistance.models import AssistanceEntry
from residents.registry import fields
from residents.registry.models import (
    HEAD,
    Household,
    Move,
    MoveKind,
    Period,
    Resident,
    Status,
    address_text,
)
from residents.registry.schemas import (
    AddressIn,
    DvBlockIn,
    HouseholdMoveIn,
    MoveIn,
    ResidentIn,
    ResidentPatch,
)
from residents.search.normalize import address_key, name_key
from yui.audit import service as audit
from yui.errors import Conflict, InvalidInput, NotFound

SUBJECT = "resident"


def _now() -> datetime:
    return datetime.now(UTC)


def resident_address(resident: Resident | Period) -> str:
    return address_text(resident.town_name, resident.block, resident.building)


# --- reading --------------------------------------------------------------------------


def get(session: Session, resident_id: str, *, for_update: bool = False) -> Resident:
    """The resident of the tenant in scope, or 404 (another tenant's id is not found)."""
    query = select(Resident).where(Resident.id == resident_id)
    if for_update:
        query = query.with_for_update()
    resident = session.execute(query).scalar_one_or_none()
    if resident is None:
        raise NotFound(f"住民 {resident_id} は見つかりません / no resident {resident_id}")
    return resident


def read(session: Session, resident_id: str, *, actor: str, purpose: str = "") -> Resident:
    """A staff read of one resident's details: audited."""
    resident = get(session, resident_id)
    audit.record(
        session,
        actor=actor,
        action="resident.read",
        subject_type=SUBJECT,
        subject_id=resident.id,
        detail={"resident_no": resident.resident_no, **({"purpose": purpose} if purpose else {})},
    )
    return resident


def by_number(session: Session, resident_no: str) -> Resident:
    resident = session.execute(
        select(Resident).where(Resident.resident_no == resident_no)
    ).scalar_one_or_none()
    if resident is None:
        raise NotFound(
            f"宛名番号 {resident_no} の住民はいません / no resident number {resident_no}"
        )
    return resident


def household_of(session: Session, resident: Resident) -> Household:
    household = session.get(Household, resident.household_id)
    assert household is not None  # a foreign key
    return household


def needs_assistance(session: Session, resident_id: str) -> bool:
    return (
        session.execute(
            select(AssistanceEntry.id).where(AssistanceEntry.resident_id == resident_id)
        ).first()
        is not None
    )


def moves(session: Session, resident_id: str) -> list[Move]:
    return list(
        session.execute(
            select(Move)
            .where(Move.resident_id == resident_id)
            .order_by(Move.effective_on, Move.recorded_at, Move.id)
        ).scalars()
    )


def household(session: Session, household_id: str) -> Household:
    found = session.execute(
        select(Household).where(Household.id == household_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"世帯 {household_id} は見つかりません / no household {household_id}")
    return found


def household_by_number(session: Session, household_no: str) -> Household | None:
    return session.execute(
        select(Household).where(Household.household_no == household_no)
    ).scalar_one_or_none()


def members(session: Session, household_id: str, *, include_former: bool = False) -> list[Resident]:
    query = select(Resident).where(Resident.household_id == household_id)
    if not include_former:
        query = query.where(Resident.status == Status.ACTIVE)
    residents = list(session.execute(query.order_by(Resident.birth_date, Resident.id)).scalars())
    # the head first, then by age
    return sorted(residents, key=lambda resident: resident.relationship != HEAD)


def read_household(
    session: Session, household_id: str, *, actor: str
) -> tuple[Household, list[Resident]]:
    found = household(session, household_id)
    people = members(session, household_id)
    audit.record(
        session,
        actor=actor,
        action="household.read",
        subject_type="household",
        subject_id=found.id,
        detail={"household_no": found.household_no, "members": len(people)},
    )
    return found, people


# --- who lived where on a date ---------------------------------------------------------


@dataclass(frozen=True)
class Occupancy:
    resident: Resident
    household_id: str
    relationship: str
    address: str
    since: date
    until: date | None


def _current_on(on: date) -> ColumnElement[bool]:
    return and_(
        Resident.state_since <= on,
        or_(Resident.status == Status.ACTIVE, Resident.status_on > on),
    )


def occupants_of_address(
    session: Session, town: str, block: str = "", *, on: date, building: str | None = None
) -> list[Occupancy]:
    """Who lived at this address (町字 + 番地; optionally 方書) on `on`."""
    key = address_key(town, block)
    if not key:
        raise InvalidInput("住所を指定してください / give an address")
    current = select(Resident).where(Resident.address_key == key, _current_on(on))
    past = (
        select(Period, Resident)
        .join(Resident, Resident.id == Period.resident_id)
        .where(Period.address_key == key, Period.valid_from <= on, Period.valid_to > on)
    )
    if building is not None:
        current = current.where(Resident.building == building)
        past = past.where(Period.building == building)
    return _occupancies(session, current, past)


def occupants_of_household(session: Session, household_id: str, *, on: date) -> list[Occupancy]:
    """Who belonged to this household on `on`."""
    household(session, household_id)
    current = select(Resident).where(Resident.household_id == household_id, _current_on(on))
    past = (
        select(Period, Resident)
        .join(Resident, Resident.id == Period.resident_id)
        .where(Period.household_id == household_id, Period.valid_from <= on, Period.valid_to > on)
    )
    return _occupancies(session, current, past)


def _occupancies(
    session: Session, current: Select[Resident], past: Select[Period, Resident]
) -> list[Occupancy]:
    found: list[Occupancy] = []
    for resident in session.execute(current).scalars():
        ended = resident.status_on if resident.status != Status.ACTIVE else None
        found.append(
            Occupancy(
                resident,
                resident.household_id,
                resident.relationship,
                resident_address(resident),
                resident.state_since,
                ended,
            )
        )
    for period, resident in session.execute(past):
        found.append(
            Occupancy(
                resident,
                period.household_id,
                period.relationship,
                resident_address(period),
                period.valid_from,
                period.valid_to,
            )
        )
    found.sort(
        key=lambda item: (item.relationship != HEAD, item.resident.birth_date, item.resident.id)
    )
    return found


def audit_occupants(
    session: Session, actor: str, kind: str, subject: str, on: date, found: list[Occupancy]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"{kind}.occupants",
        subject_type=kind,
        subject_id=subject[:100],
        detail={"on": on.isoformat(), "results": [item.resident.id for item in found]},
    )


# --- writing ---------------------------------------------------------------------------


def _household_for(session: Session, household_no: str) -> Household:
    """The household with this number, created when it does not exist yet."""
    found = household_by_number(session, household_no)
    if found is None:
        found = Household(household_no=household_no)
        session.add(found)
        session.flush()
    return found


def _check_head(
    session: Session, household: Household, relationship: str, resident_id: str | None
) -> None:
    if relationship != HEAD:
        return
    query = select(Resident.id).where(
        Resident.household_id == household.id,
        Resident.relationship == HEAD,
        Resident.status == Status.ACTIVE,
    )
    if resident_id is not None:
        query = query.where(Resident.id != resident_id)
    if session.execute(query).first() is not None:
        raise Conflict(
            f"世帯 {household.household_no} には既に世帯主がいます / household "
            f"{household.household_no} already has a head"
        )


def _apply_address(resident: Resident, address: AddressIn) -> None:
    resident.town_code = address.town_code
    resident.town_name = address.town_name
    resident.block = address.block
    resident.building = address.building
    resident.latitude = address.latitude
    resident.longitude = address.longitude
    resident.address_key = address_key(address.town_name, address.block)


def register(session: Session, data: ResidentIn, *, actor: str) -> Resident:
    """転入 or 出生: add a resident (and the household, when its number is new)."""
    if session.execute(select(Resident.id).where(Resident.resident_no == data.resident_no)).first():
        raise Conflict(
            f"宛名番号 {data.resident_no} は既に登録されています / resident number "
            f"{data.resident_no} is already registered"
        )
    home = _household_for(session, data.household_no)
    _check_head(session, home, data.relationship, None)
    now = _now()
    resident = Resident(
        resident_no=data.resident_no,
        household_id=home.id,
        relationship=data.relationship,
        family_name=data.family_name,
        given_name=data.given_name,
        family_kana=data.family_kana,
        given_kana=data.given_kana,
        name_key=name_key(data.family_name, data.given_name),
        kana_key=name_key(data.family_kana, data.given_kana),
        birth_date=data.birth_date,
        sex=data.sex.value,
        nationality=data.nationality,
        status=Status.ACTIVE.value,
        status_on=None,
        became_resident_on=data.effective_on,
        address_since=data.effective_on,
        state_since=data.effective_on,
        phone=data.phone,
        email=data.email,
        language=data.language,
        dv_block=False,
        created_at=now,
        updated_at=now,
        version=1,
    )
    _apply_address(resident, data.address)
    session.add(resident)
    session.flush()
    session.add(
        Move(
            resident_id=resident.id,
            kind=data.kind.value,
            effective_on=data.effective_on,
            notified_on=data.notified_on,
            to_household_id=home.id,
            to_address=resident_address(resident),
            other_address=data.previous_address,
            recorded_by=actor,
            recorded_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        action=f"resident.{data.kind.value}",
        subject_type=SUBJECT,
        subject_id=resident.id,
        detail={"resident_no": resident.resident_no, "effective_on": data.effective_on.isoformat()},
    )
    return resident


def _check_version(resident: Resident, version: int | None) -> None:
    if version is not None and version != resident.version:
        raise Conflict(
            f"住民 {resident.id} は他の職員が更新しました（版 {resident.version}）。読み直してください / "
            f"resident {resident.id} was changed by someone else (version {resident.version}); "
            f"read it again"
        )


def _touch(resident: Resident) -> None:
    resident.version += 1
    resident.updated_at = _now()


def update(session: Session, resident_id: str, patch: ResidentPatch, *, actor: str) -> Resident:
    """Correct facts that are not 異動 (names, contact details, language)."""
    resident = get(session, resident_id, for_update=True)
    _check_version(resident, patch.version)
    changes = patch.model_dump(exclude_unset=True, exclude={"version"})
    if not changes:
        return resident
    for name, value in changes.items():
        if name in ("latitude", "longitude") or value is not None:
            setattr(resident, name, value)
    if not resident.family_name or not resident.family_kana:
        raise InvalidInput(
            "氏と氏の振り仮名は空にできません / family name and reading are required"
        )
    resident.name_key = name_key(resident.family_name, resident.given_name)
    resident.kana_key = name_key(resident.family_kana, resident.given_kana)
    with session.no_autoflush:  # the resident's row is written once, with its version
        entry = session.execute(
            select(AssistanceEntry).where(AssistanceEntry.resident_id == resident.id)
        ).scalar_one_or_none()
    if entry is not None and entry.kana_key != resident.kana_key:
        entry.kana_key = resident.kana_key  # the register's order follows the reading
    _touch(resident)
    audit.record(
        session,
        actor=actor,
        action="resident.update",
        subject_type=SUBJECT,
        subject_id=resident.id,
        detail={"fields": sorted(changes)},
    )
    return resident


def _close_period(session: Session, resident: Resident, until: date) -> None:
    """Keep the state that ends on `until` (exclusive) as a period, when it lasted."""
    if until <= resident.state_since:
        return
    end = until
    if resident.status != Status.ACTIVE and resident.status_on is not None:
        end = min(end, resident.status_on)
    session.add(
        Period(
            resident_id=resident.id,
            household_id=resident.household_id,
            relationship=resident.relationship,
            town_code=resident.town_code,
            town_name=resident.town_name,
            block=resident.block,
            building=resident.building,
            address_key=resident.address_key,
            valid_from=resident.state_since,
            valid_to=end,
        )
    )


def record_move(session: Session, resident_id: str, move: MoveIn, *, actor: str) -> Move:
    """Record one 異動 and change the resident's current state accordingly."""
    resident = get(session, resident_id, for_update=True)
    _check_version(resident, move.version)
    kind = MoveKind(move.kind)
    on = move.effective_on
    if kind == MoveKind.MOVE_IN:
        if resident.status != Status.MOVED_OUT:
            raise Conflict(
                "転入できるのは転出した住民だけです / only a moved-out resident can move in again"
            )
        if resident.status_on is not None and on < resident.status_on:
            raise InvalidInput(
                "転入日が転出日より前です / the move-in is dated before the move-out"
            )
    else:
        if resident.status != Status.ACTIVE:
            raise Conflict(
                f"住民 {resident.id} は消除されています（{resident.status}） / resident "
                f"{resident.id} is no longer registered ({resident.status})"
            )
        if on < resident.state_since:
            raise InvalidInput(
                f"異動日が現在の記載（{resident.state_since}）より前です / the move is dated before "
                f"the current record ({resident.state_since})"
            )
    if on < resident.birth_date:
        raise InvalidInput("異動日が生年月日より前です / the move is dated before the birth")

    record = Move(
        resident_id=resident.id,
        kind=kind.value,
        effective_on=on,
        notified_on=move.notified_on,
        from_household_id=resident.household_id,
        from_address=resident_address(resident),
        other_address=move.other_address,
        note=move.note,
        recorded_by=actor,
        recorded_at=_now(),
    )
    if kind in (MoveKind.MOVE_OUT, MoveKind.DEATH):
        resident.status = (Status.MOVED_OUT if kind == MoveKind.MOVE_OUT else Status.DECEASED).value
        resident.status_on = on
    else:
        _close_period(session, resident, on)
        if move.household_no is not None and move.relationship is not None:
            target = _household_for(session, move.household_no)
            _check_head(session, target, move.relationship, resident.id)
            resident.household_id = target.id
            resident.relationship = move.relationship
        elif resident.status == Status.MOVED_OUT:
            _check_head(
                session, household_of(session, resident), resident.relationship, resident.id
            )
        if move.address is not None:
            _apply_address(resident, move.address)
            resident.address_since = on
        if kind == MoveKind.MOVE_IN:
            resident.status = Status.ACTIVE.value
            resident.status_on = None
            resident.became_resident_on = on
        resident.state_since = on
    record.to_household_id = resident.household_id
    record.to_address = (
        resident_address(resident) if kind not in (MoveKind.MOVE_OUT, MoveKind.DEATH) else ""
    )
    _touch(resident)
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"resident.{kind.value}",
        subject_type=SUBJECT,
        subject_id=resident.id,
        detail={"effective_on": on.isoformat(), "move_id": record.id},
    )
    return record


def move_household(
    session: Session, household_id: str, move: HouseholdMoveIn, *, actor: str
) -> list[Move]:
    """転居 of every active member of a household, on the same day, in one transaction."""
    people = members(session, household(session, household_id).id)
    if not people:
        raise Conflict("この世帯には住民がいません / the household has no registered member")
    return [
        record_move(
            session,
            person.id,
            MoveIn(
                kind=MoveKind.RELOCATION,
                effective_on=move.effective_on,
                notified_on=move.notified_on,
                address=move.address,
                note=move.note,
            ),
            actor=actor,
        )
        for person in people
    ]


def set_dv_block(session: Session, resident_id: str, block: DvBlockIn, *, actor: str) -> Resident:
    """Start or end a DV-support block (支援措置)."""
    resident = get(session, resident_id, for_update=True)
    if resident.dv_block != block.blocked:
        resident.dv_block = block.blocked
        resident.dv_block_since = (block.since or fields.today()) if block.blocked else None
        _touch(resident)
    audit.record(
        session,
        actor=actor,
        action="resident.dv_block" if block.blocked else "resident.dv_unblock",
        subject_type=SUBJECT,
        subject_id=resident.id,
        detail={"since": resident.dv_block_since.isoformat() if resident.dv_block_since else None},
    )
    return resident


def visible_to_non_staff() -> ColumnElement[bool]:
    """The condition every output beyond the municipality's staff applies: no DV block,
    and only people registered today."""
    return and_(Resident.dv_block.is_(False), Resident.status == Status.ACTIVE)


def assisted_ids(session: Session, resident_ids: Sequence[str]) -> set[str]:
    if not resident_ids:
        return set()
    return set(
        session.execute(
            select(AssistanceEntry.resident_id).where(AssistanceEntry.resident_id.in_(resident_ids))
        ).scalars()
    )


def has_assistance() -> ColumnElement[bool]:
    return exists().where(AssistanceEntry.resident_id == Resident.id)
