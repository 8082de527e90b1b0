"""Shelter check-ins and check-outs, occupancy now and over time, and its make-up.

A registered resident is read through the kernel's ResidentDirectory port as the
caller's audience (a shelter account is non-staff: a resident under a DV-support block
is not found), before this unit of work touches the database (on SQLite a write
transaction holds the file's write lock from its first statement). A resident's
check-in publishes `ShelterCheckedIn` inside this unit of work: safety confirmation's
sign of life commits with the check-in or not at all. When a handler fails, the check-in
is rolled back and the caller is told to send it again (503 with Retry-After): a check-in
is acknowledged only with its sign of life, and its id makes the resend count once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from supplies.access import Reach
from supplies.evacuees.models import CheckOutReason, EvacueeKind, NeedCategory, Stay
from supplies.evacuees.schemas import CheckInIn, CheckOutIn
from supplies.places import service as places
from supplies.places.models import Place
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from yui.events import BUS, ShelterCheckedIn
from yui.service_ports import Audience, ResidentDirectory

log = logging.getLogger(__name__)

#: how far ahead of this site's clock a check-in time may be (a tablet's clock runs fast)
CLOCK_SKEW = timedelta(minutes=5)
#: the caller's reach, read once the service may touch the database (after the registry)
ReachReader = Callable[[Session], Reach]


#: seconds a desk waits before sending a check-in again whose sign of life failed
SIGN_OF_LIFE_RETRY_AFTER = 5


class SignOfLifeUnavailable(Unavailable):
    """The check-in's sign of life could not be recorded: nothing was written; resend."""

    slug = "sign-of-life-unavailable"

    def __init__(self) -> None:
        super().__init__(
            "安否確認への記録に失敗したため、受付は記録していません。同じ受付をしばらくして"
            "から再送してください / the sign of life for safety confirmation failed, so the "
            "check-in was not recorded: send the same check-in again shortly",
            retry_after=SIGN_OF_LIFE_RETRY_AFTER,
        )


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CheckedIn:
    stay: Stay
    #: False when the id was recorded already (a resend)
    created: bool
    #: the stay at another shelter this check-in closed (a move), if any
    moved_from: str | None = None


def _time(given: datetime | None, received: datetime) -> datetime:
    at = given.astimezone(UTC) if given else received
    if at > received + CLOCK_SKEW:
        raise InvalidInput("時刻が未来です / the time is in the future")
    return at


def open_stay_of(session: Session, resident_id: str) -> Stay | None:
    return session.execute(
        select(Stay).where(Stay.resident_id == resident_id, Stay.checked_out_at.is_(None))
    ).scalar_one_or_none()


def check_in(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    shelter_ref: str,
    body: CheckInIn,
    *,
    actor: str,
    audience: Audience,
    may_write_care_notes: bool,
    reach_of: ReachReader,
) -> CheckedIn:
    if body.care_note and not may_write_care_notes:
        raise Forbidden("支援の詳細は職員だけが記録できます / only staff may record a care note")
    tenant = uow.tenant or ""
    town_name = ""
    if body.kind == EvacueeKind.RESIDENT:
        facts = directory.lookup(tenant, body.resident_id, audience=audience, actor=actor)
        if facts is None:
            raise NotFound(f"住民 {body.resident_id} はいません / no resident {body.resident_id}")
        town_name = facts.town_name
    session = uow.session
    shelter = places.shelter(session, shelter_ref, reach_of(session))
    if body.id is not None:
        stored = session.get(Stay, body.id)
        if stored is not None:
            if (stored.shelter_id, stored.resident_id, stored.people) != (
                shelter.id,
                body.resident_id,
                body.people,
            ):
                raise Conflict(
                    "この受付IDは別の受付に使われています / this id was used for another"
                )
            return CheckedIn(stored, created=False)
    if not shelter.is_open:
        raise Conflict(f"{shelter.name} は開設されていません / the shelter is not open")
    received = now()
    at = _time(body.checked_in_at, received)
    moved_from = None
    if body.kind == EvacueeKind.RESIDENT:
        current = open_stay_of(session, body.resident_id)
        if current is not None:
            if current.shelter_id == shelter.id:
                raise Conflict("この住民はすでにチェックイン済みです / already checked in here")
            if at < current.checked_in_at:
                raise InvalidInput(
                    "前の避難所の受付より前の時刻です / before the check-in at the other shelter"
                )
            # a move between shelters: the old stay ends when the new one starts
            current.checked_out_at, current.checked_out_by = at, actor
            current.check_out_reason = CheckOutReason.MOVED.value
            moved_from = current.shelter_id
    stay = Stay(
        shelter_id=shelter.id,
        kind=body.kind.value,
        resident_id=body.resident_id,
        label=body.label,
        people=body.people,
        makeup={category.value: n for category, n in sorted(body.makeup.items()) if n},
        care_note=body.care_note,
        checked_in_at=at,
        checked_in_by=actor,
    )
    if body.id is not None:
        stay.id = body.id
    session.add(stay)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="supplies.check_in",
        subject_type="resident" if body.resident_id else "supplies_stay",
        subject_id=body.resident_id or stay.id,
        detail={"shelter": shelter.code, "stay": stay.id, "people": stay.people},
    )
    if body.kind == EvacueeKind.RESIDENT:
        event = ShelterCheckedIn(
            tenant=tenant,
            resident_id=body.resident_id,
            shelter_id=shelter.id,
            shelter_name=shelter.name,
            at=at,
            town_name=town_name,
        )
        try:
            BUS.publish(event, session)
        except Exception as error:
            # the unit of work rolls back on the way out: neither the stay nor a part of the
            # sign of life is written, and a resend of the same id is a fresh attempt
            log.exception("the sign of life of check-in %s failed", stay.id)
            raise SignOfLifeUnavailable() from error
    return CheckedIn(stay, created=True, moved_from=moved_from)


def check_out(session: Session, shelter: Place, body: CheckOutIn, *, actor: str) -> Stay:
    """Close the open stay at this shelter (someone not checked in here is refused), or,
    when `people` is fewer than the stay's, let that part of the party leave: the answer is
    the stay of those who left."""
    if body.id is not None:
        stored = session.get(Stay, body.id)
        if stored is not None:  # a resend of a partial check-out: the first answer
            if (stored.shelter_id, stored.people, stored.checked_out_at is None) != (
                shelter.id,
                body.people,
                False,
            ):
                raise Conflict(
                    "この記録IDは別の受付に使われています / this id was used for another"
                )
            return stored
    query = select(Stay).where(Stay.shelter_id == shelter.id, Stay.checked_out_at.is_(None))
    if body.stay_id is not None:
        query = query.where(Stay.id == body.stay_id)
    else:
        query = query.where(Stay.resident_id == body.resident_id)
    # the row is locked (PostgreSQL): two desks letting parts of one party go count both
    stay = session.execute(query.with_for_update()).scalar_one_or_none()
    if stay is None:
        raise Conflict(
            "この避難所にチェックインしていない人はチェックアウトできません / nobody by that id "
            "is checked in at this shelter"
        )
    at = _time(body.checked_out_at, now())
    if at < stay.checked_in_at:
        raise InvalidInput("チェックインより前の時刻です / before the check-in")
    leaving = stay
    if body.people is not None and body.people != stay.people:
        leaving = _part_of(stay, body)
        session.add(leaving)
    leaving.checked_out_at, leaving.checked_out_by = at, actor
    leaving.check_out_reason = body.reason.value
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="supplies.check_out",
        subject_type="resident" if stay.resident_id else "supplies_stay",
        subject_id=stay.resident_id or stay.id,
        detail={
            "shelter": shelter.code,
            "stay": stay.id,
            "reason": body.reason.value,
            "people": leaving.people,
            **({"left_as": leaving.id} if leaving is not stay else {}),
        },
    )
    return leaving


def _part_of(stay: Stay, body: CheckOutIn) -> Stay:
    """Split the part of a party that leaves off its stay: the stay keeps the people who
    remain, and the leavers become a stay of their own from the same check-in time. The
    occupancy history stays right at every moment (before: both stays; after: the one)."""
    people = body.people or 0
    if people > stay.people:
        raise InvalidInput(
            f"この受付は {stay.people} 人です（{people} 人は退所できません） / the stay counts "
            f"{stay.people} people, not {people}"
        )
    remaining = dict(stay.makeup)
    for category, count in body.makeup.items():
        left = remaining.get(category.value, 0) - count
        if left < 0:
            raise InvalidInput(
                f"{category.value} はこの受付に {remaining.get(category.value, 0)} 人です / the "
                f"stay counts {remaining.get(category.value, 0)} {category.value}"
            )
        remaining[category.value] = left
    stays = stay.people - people
    for code, count in remaining.items():
        if count > stays:
            raise InvalidInput(
                f"残る {stays} 人に {code} が {count} 人になります。退所する人の内訳を"
                f"指定してください / {count} {code} would remain among {stays} people: give "
                "the leavers' makeup"
            )
    leaving = Stay(
        shelter_id=stay.shelter_id,
        kind=stay.kind,
        resident_id=stay.resident_id,
        label=stay.label,
        people=people,
        makeup={category.value: n for category, n in sorted(body.makeup.items()) if n},
        care_note=stay.care_note,
        checked_in_at=stay.checked_in_at,
        checked_in_by=stay.checked_in_by,
    )
    if body.id is not None:
        leaving.id = body.id
    stay.people = stays
    stay.makeup = {code: n for code, n in sorted(remaining.items()) if n}
    return leaving


def occupancy_now(session: Session, shelter_id: str) -> int:
    people = session.execute(
        select(func.coalesce(func.sum(Stay.people), 0)).where(
            Stay.shelter_id == shelter_id, Stay.checked_out_at.is_(None)
        )
    ).scalar_one()
    return int(people)


@dataclass(frozen=True)
class Occupancy:
    shelter: Place
    people: int
    stays: int
    makeup: dict[NeedCategory, int]


def occupancies(
    session: Session, shelters: list[Place], *, at: datetime | None = None
) -> list[Occupancy]:
    """Each shelter's people and their make-up (counts per category): now, or as it was
    at `at` (the stays from their check-in up to, not including, their check-out; a
    partial check-out keeps this true, its two stays covering the party before it)."""
    ids = [shelter.id for shelter in shelters]
    people: Counter[str] = Counter()
    stays: Counter[str] = Counter()
    makeup: dict[str, Counter[NeedCategory]] = {shelter_id: Counter() for shelter_id in ids}
    present = (
        Stay.checked_out_at.is_(None)
        if at is None
        else (Stay.checked_in_at <= at)
        & or_(Stay.checked_out_at.is_(None), Stay.checked_out_at > at)
    )
    rows = session.execute(
        select(Stay.shelter_id, Stay.people, Stay.makeup).where(Stay.shelter_id.in_(ids), present)
    )
    for shelter_id, count, counts in rows:
        people[shelter_id] += count
        stays[shelter_id] += 1
        makeup[shelter_id].update({NeedCategory(k): v for k, v in counts.items()})
    return [
        Occupancy(
            shelter,
            people[shelter.id],
            stays[shelter.id],
            {category: makeup[shelter.id][category] for category in NeedCategory},
        )
        for shelter in shelters
    ]


def stays(session: Session, shelter_id: str, *, open_only: bool, limit: int) -> list[Stay]:
    query = select(Stay).where(Stay.shelter_id == shelter_id)
    if open_only:
        query = query.where(Stay.checked_out_at.is_(None))
    query = query.order_by(Stay.checked_in_at.desc(), Stay.id).limit(limit)
    return list(session.execute(query).scalars())


def history(
    session: Session, shelter_id: str, *, since: datetime, until: datetime, step: timedelta
) -> list[tuple[datetime, int]]:
    """People at the shelter at each `step` from `since` to `until`, from the stays' times
    (a stay counts from its check-in up to, not including, its check-out)."""
    rows = session.execute(
        select(Stay.people, Stay.checked_in_at, Stay.checked_out_at).where(
            Stay.shelter_id == shelter_id,
            Stay.checked_in_at <= until,
            or_(Stay.checked_out_at.is_(None), Stay.checked_out_at > since),
        )
    ).all()
    points = []
    at = since
    while at <= until:
        present = sum(
            people for people, came, left in rows if came <= at and (left is None or left > at)
        )
        points.append((at, present))
        at += step
    return points
