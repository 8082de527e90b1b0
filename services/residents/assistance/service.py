"""The needs-assistance register (避難行動要支援者名簿): entries, supporters, lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from residents.assistance.models import AssistanceEntry, Supporter
from residents.assistance.schemas import AssistanceIn
from residents.registry import fields
from residents.registry import service as registry
from residents.registry.models import Resident, Status
from yui.audit import service as audit
from yui.errors import NotFound


@dataclass(frozen=True)
class Listed:
    entry: AssistanceEntry
    resident: Resident
    supporters: list[Supporter]


def get_entry(session: Session, resident_id: str) -> AssistanceEntry:
    entry = session.execute(
        select(AssistanceEntry).where(AssistanceEntry.resident_id == resident_id)
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound(
            f"住民 {resident_id} は要支援者名簿にありません / resident {resident_id} is not in the "
            "needs-assistance register"
        )
    return entry


def supporters_of(session: Session, entry_id: str) -> list[Supporter]:
    return list(
        session.execute(
            select(Supporter).where(Supporter.entry_id == entry_id).order_by(Supporter.position)
        ).scalars()
    )


def read_entry(
    session: Session, resident_id: str, *, actor: str
) -> tuple[AssistanceEntry, list[Supporter]]:
    entry = get_entry(session, resident_id)
    audit.record(
        session,
        actor=actor,
        action="assistance.read",
        subject_type="resident",
        subject_id=resident_id,
    )
    return entry, supporters_of(session, entry.id)


def set_entry(
    session: Session, resident_id: str, data: AssistanceIn, *, actor: str
) -> tuple[AssistanceEntry, list[Supporter]]:
    """Add the resident to the register, or replace their entry."""
    resident = registry.get(session, resident_id)
    entry = session.execute(
        select(AssistanceEntry).where(AssistanceEntry.resident_id == resident.id)
    ).scalar_one_or_none()
    now = datetime.now(UTC)
    created = entry is None
    if entry is None:
        entry = AssistanceEntry(resident_id=resident.id, registered_on=fields.today())
        session.add(entry)
    entry.reasons = sorted({reason.value for reason in data.reasons})
    entry.care_level = data.care_level
    entry.needs = data.needs
    entry.priority = data.priority
    entry.kana_key = resident.kana_key
    entry.consent_to_share = data.consent_to_share
    entry.consent_on = data.consent_on if data.consent_to_share else None
    entry.updated_at = now
    session.flush()
    for old in supporters_of(session, entry.id):
        session.delete(old)
    session.flush()
    supporters = [
        Supporter(
            entry_id=entry.id,
            position=index,
            name=item.name,
            role=item.role,
            phone=item.phone,
            email=item.email,
        )
        for index, item in enumerate(data.supporters)
    ]
    session.add_all(supporters)
    audit.record(
        session,
        actor=actor,
        action="assistance.add" if created else "assistance.update",
        subject_type="resident",
        subject_id=resident.id,
        detail={"reasons": entry.reasons, "consent_to_share": entry.consent_to_share},
    )
    return entry, supporters


def remove_entry(session: Session, resident_id: str, *, actor: str) -> None:
    entry = get_entry(session, resident_id)
    for supporter in supporters_of(session, entry.id):
        session.delete(supporter)
    session.flush()
    session.delete(entry)
    audit.record(
        session,
        actor=actor,
        action="assistance.remove",
        subject_type="resident",
        subject_id=resident_id,
    )


def register_list(
    session: Session,
    *,
    non_staff: bool,
    disaster: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[Listed]:
    """The register, priority first, then by reading.

    `non_staff`: the list leaves the municipality's staff — DV-blocked residents never
    appear, nor former residents; in normal times only those who consented appear
    (in a disaster, `disaster=True`, everyone else does).
    """
    statement = (
        select(AssistanceEntry, Resident)
        .join(Resident, Resident.id == AssistanceEntry.resident_id)
        # the entry's copy of the reading: the order is an index (see the model)
        .order_by(AssistanceEntry.priority, AssistanceEntry.kana_key, AssistanceEntry.resident_id)
    )
    if non_staff:
        statement = statement.where(registry.visible_to_non_staff())
        if not disaster:
            statement = statement.where(AssistanceEntry.consent_to_share.is_(True))
    else:
        statement = statement.where(Resident.status == Status.ACTIVE)
    if offset:
        statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    rows = list(session.execute(statement).all())
    by_entry: dict[str, list[Supporter]] = {}
    entry_ids = [entry.id for entry, _resident in rows]
    for start in range(0, len(entry_ids), 500):
        for supporter in session.execute(
            select(Supporter)
            .where(Supporter.entry_id.in_(entry_ids[start : start + 500]))
            .order_by(Supporter.position)
        ).scalars():
            by_entry.setdefault(supporter.entry_id, []).append(supporter)
    return [Listed(entry, resident, by_entry.get(entry.id, [])) for entry, resident in rows]


def audit_list(
    session: Session, *, actor: str, non_staff: bool, disaster: bool, count: int
) -> None:
    audit.record(
        session,
        actor=actor,
        action="assistance.list",
        subject_type="assistance_register",
        detail={
            "audience": "non_staff" if non_staff else "staff",
            "disaster": disaster,
            "entries": count,
        },
    )
