"""PFIF import (1.2–1.4) and export (1.4): matching by record id and domain.

The rules (PFIF 1.4, "record ids"): a record id is `domain/unique`, the domain being the
home repository's. So on import

- a record of this municipality's own domain is ours already (a resident of the
  registry, a report of this service): it is never created nor overwritten from a
  file, only counted;
- a person of another domain is created when its id is new, and replaced when the
  file's copy has a later source_date (an original updated at home); else kept;
- a note of another domain is created when its id is new and never changed after:
  PFIF notes are immutable (a second copy is counted, not applied);
- entry_date is this repository's: set when a record is stored, never read.

The export writes our own records — every resident with a report in a live campaign
(never a drill), read through the port as `Audience.NON_STAFF`, so a DV-blocked or
former resident and all their notes are left out — then the records imported from
elsewhere, each with every field it came with. An imported person whose name and full
birth date are those of a DV-blocked resident is withheld too, with its notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.campaigns.models import Campaign, CampaignKind
from safety_check.pfif.fields import PFIF_14, domain_of
from safety_check.pfif.models import PfifNote, PfifPerson, dump_fields, load_fields
from safety_check.pfif.parse import parse, parse_time, pfif_time
from safety_check.pfif.writer import PfifWriter
from safety_check.reports.models import Report, ReporterKind, SafetyStatus
from yui.audit import service as audit
from yui.db.database import Database
from yui.service_ports import Audience, ResidentDirectory, ResidentFacts
from yui.tenancy.models import Tenant

#: what a local status is in PFIF's terms
PFIF_STATUS = {
    SafetyStatus.SAFE: "believed_alive",
    SafetyStatus.INJURED: "believed_alive",
    SafetyStatus.NEEDS_HELP: "believed_alive",
    SafetyStatus.AT_SHELTER: "believed_alive",
    SafetyStatus.INFORMATION_SOUGHT: "information_sought",
    SafetyStatus.IS_NOTE_AUTHOR: "is_note_author",
    SafetyStatus.BELIEVED_ALIVE: "believed_alive",
    SafetyStatus.BELIEVED_MISSING: "believed_missing",
    SafetyStatus.BELIEVED_DEAD: "believed_dead",
}
#: a note's text says how the municipality learned it (never the staff's own note, the
#: place or the shelter: PFIF is public by nature)
REPORTED_BY = {
    ReporterKind.STAFF_CALL: "職員の電話確認 / a staff phone call",
    ReporterKind.DOOR_TO_DOOR: "戸別訪問 / a door-to-door visit",
    ReporterKind.SUPPORTER: "避難支援等関係者の報告 / a supporter's report",
    ReporterKind.FAMILY: "家族の報告 / a family member's report",
    ReporterKind.RESIDENT: "本人の報告 / the person's own report",
}
#: reporters who spoke with or saw the person
MADE_CONTACT = {ReporterKind.STAFF_CALL, ReporterKind.DOOR_TO_DOOR, ReporterKind.RESIDENT}


#: a record-id domain this municipality may be given
DOMAIN = re.compile(r"^[a-z0-9.-]{3,100}$")


def home_domain(tenant: str) -> str:
    """This municipality's record-id domain (the same as the registry's PFIF export, so
    one person has one id whichever of the two wrote it)."""
    return f"{tenant}.residents.yui"


@dataclass
class ImportCounts:
    persons_created: int = 0
    persons_replaced: int = 0
    persons_kept: int = 0
    notes_created: int = 0
    notes_kept: int = 0
    #: records of this municipality's own domain: never taken from a file
    own_records: int = 0
    version: str = ""


def import_pfif(session: Session, data: bytes, *, domain: str, actor: str) -> ImportCounts:
    """Read the whole file first (refused whole on any problem), then apply it."""
    document = parse(data)
    counts = ImportCounts(version=document.version)
    now = datetime.now(UTC)
    for person in document.persons:
        _import_person(session, person.fields, domain, now, counts)
        for note in person.notes:
            _import_note(session, note.fields, domain, now, counts)
    for note in document.notes:
        _import_note(session, note.fields, domain, now, counts)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="safety.pfif_import",
        subject_type="pfif",
        detail={"version": document.version, **_counts(counts)},
    )
    return counts


def _counts(counts: ImportCounts) -> dict[str, int]:
    return {k: v for k, v in counts.__dict__.items() if isinstance(v, int)}


def _import_person(
    session: Session, fields: dict[str, str], domain: str, now: datetime, counts: ImportCounts
) -> None:
    record_id = fields["person_record_id"]
    if domain_of(record_id) == domain.lower():
        counts.own_records += 1
        return
    source_date = parse_time(fields.get("source_date", ""))
    stored = session.execute(
        select(PfifPerson).where(PfifPerson.record_id == record_id)
    ).scalar_one_or_none()
    if stored is None:
        session.add(
            PfifPerson(
                record_id=record_id,
                source_date=source_date,
                entry_date=now,
                fields_json=dump_fields(fields),
            )
        )
        session.flush()  # a second copy later in the same file finds this one
        counts.persons_created += 1
    elif source_date is not None and (
        stored.source_date is None or source_date > stored.source_date
    ):
        stored.source_date, stored.entry_date = source_date, now
        stored.fields_json = dump_fields(fields)
        counts.persons_replaced += 1
    else:
        counts.persons_kept += 1


def _import_note(
    session: Session, fields: dict[str, str], domain: str, now: datetime, counts: ImportCounts
) -> None:
    record_id = fields["note_record_id"]
    if domain_of(record_id) == domain.lower():
        counts.own_records += 1
        return
    stored = session.execute(
        select(PfifNote.id).where(PfifNote.record_id == record_id)
    ).scalar_one_or_none()
    if stored is not None:
        counts.notes_kept += 1
        return
    session.add(
        PfifNote(
            record_id=record_id,
            person_record_id=fields["person_record_id"],
            entry_date=now,
            fields_json=dump_fields(fields),
        )
    )
    session.flush()
    counts.notes_created += 1


# --- export --------------------------------------------------------------------------------


@dataclass
class ExportPlan:
    """What an export writes, gathered before any XML is made."""

    persons: list[dict[str, str]] = field(default_factory=list)
    #: person record id → its notes
    notes: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    #: notes whose person is not in the export (held elsewhere)
    loose_notes: list[dict[str, str]] = field(default_factory=list)
    #: persons left out (DV-blocked, former residents, or an imported record naming one)
    withheld: int = 0


def _live_reports(session: Session) -> list[Report]:
    return list(
        session.execute(
            select(Report)
            .join(Campaign, Campaign.id == Report.campaign_id)
            .where(Campaign.kind == CampaignKind.LIVE.value)
            .order_by(Report.resident_id, Report.reported_at, Report.id)
        ).scalars()
    )


def _our_person(
    facts: ResidentFacts, record_id: str, municipality: Tenant, now: str
) -> dict[str, str]:
    fields = {
        "person_record_id": record_id,
        "entry_date": now,
        "author_name": municipality.name,
        "source_name": f"{municipality.prefecture}{municipality.name} 安否確認",
        "source_date": now,
        "full_name": f"{facts.family_name} {facts.given_name}".strip(),
        "given_name": facts.given_name,
        "family_name": facts.family_name,
        "alternate_names": f"{facts.family_kana} {facts.given_kana}".strip(),
        "sex": facts.sex,
        "date_of_birth": facts.birth_date.isoformat(),
        "home_neighborhood": facts.town_name,
        "home_city": municipality.name,
        "home_state": municipality.prefecture,
        "home_country": "JP",
    }
    return {k: v for k, v in fields.items() if v}


def _our_note(
    report: Report, person_record_id: str, domain: str, municipality: Tenant
) -> dict[str, str]:
    try:
        kind: ReporterKind | None = ReporterKind(report.reporter_kind)
    except ValueError:
        kind = None
    return {
        "note_record_id": f"{domain}/note.{report.id}",
        "person_record_id": person_record_id,
        "entry_date": pfif_time(report.received_at),
        "author_name": municipality.name,
        "source_date": pfif_time(report.reported_at),
        "author_made_contact": "true" if kind in MADE_CONTACT else "false",
        "status": PFIF_STATUS[SafetyStatus(report.status)],
        "text": REPORTED_BY.get(kind, "") if kind is not None else "",
    }


def _names_and_birth(fields: dict[str, str]) -> tuple[list[str], date | None]:
    """The names an imported person goes by, and a full birth date when it has one."""
    names = [line for line in fields.get("full_name", "").splitlines() if line.strip()]
    names += [line for line in fields.get("alternate_names", "").splitlines() if line.strip()]
    whole = f"{fields.get('family_name', '')}{fields.get('given_name', '')}"
    if whole.strip():
        names.append(whole)
    try:
        born = date.fromisoformat(fields.get("date_of_birth", ""))
    except ValueError:
        born = None
    return names, born


def _names_a_blocked_resident(
    directory: ResidentDirectory, tenant: str, fields: dict[str, str], actor: str
) -> bool:
    names, born = _names_and_birth(fields)
    if born is None:
        return False
    return any(
        facts.dv_block
        for name in names
        for facts in directory.identify(tenant, name, born, audience=Audience.STAFF, actor=actor)
    )


def plan_export(
    db: Database, directory: ResidentDirectory, tenant: str, *, domain: str, actor: str
) -> ExportPlan:
    """Everything the export will write. The port's calls run in their own transactions,
    between this function's reads and its audit entry."""
    with db.unit_of_work(tenant, read_only=True) as read:
        municipality = read.session.get(Tenant, tenant)
        reports = _live_reports(read.session)
        imported = [
            load_fields(row.fields_json)
            for row in read.session.execute(
                select(PfifPerson).order_by(PfifPerson.record_id)
            ).scalars()
        ]
        imported_notes = [
            load_fields(row.fields_json)
            for row in read.session.execute(
                select(PfifNote).order_by(PfifNote.person_record_id, PfifNote.record_id)
            ).scalars()
        ]
        if municipality is None:
            return ExportPlan()
        read.session.expunge_all()
    now = pfif_time(datetime.now(UTC))
    plan = ExportPlan()
    resident_ids = list(dict.fromkeys(report.resident_id for report in reports))
    shown: set[str] = set()
    for resident_id in resident_ids:
        facts = directory.lookup(tenant, resident_id, audience=Audience.NON_STAFF, actor=actor)
        if facts is None:
            plan.withheld += 1
            continue
        record_id = f"{domain}/person.{resident_id}"
        shown.add(record_id)
        plan.persons.append(_our_person(facts, record_id, municipality, now))
    for report in reports:
        record_id = f"{domain}/person.{report.resident_id}"
        if record_id in shown:
            plan.notes.setdefault(record_id, []).append(
                _our_note(report, record_id, domain, municipality)
            )
    withheld_ids: set[str] = set()
    for person in imported:
        if _names_a_blocked_resident(directory, tenant, person, actor):
            withheld_ids.add(person["person_record_id"])
            plan.withheld += 1
            continue
        person = {**person, "entry_date": now}
        shown.add(person["person_record_id"])
        plan.persons.append(person)
    for note in imported_notes:
        person_id = note["person_record_id"]
        if person_id in withheld_ids:
            continue
        if domain_of(person_id) == domain.lower() and person_id not in shown:
            continue  # about one of ours who is not exported (DV-blocked, former): never
        note = {**note, "entry_date": now}
        if person_id in shown:
            plan.notes.setdefault(person_id, []).append(note)
        else:
            plan.loose_notes.append(note)
    with db.unit_of_work(tenant) as write:
        audit.record(
            write.session,
            actor=actor,
            action="safety.pfif_export",
            subject_type="pfif",
            detail={
                "persons": len(plan.persons),
                "notes": sum(len(n) for n in plan.notes.values()) + len(plan.loose_notes),
                "withheld": plan.withheld,
                "domain": domain,
            },
        )
        write.commit()
    return plan


def write_export(plan: ExportPlan) -> Iterator[bytes]:
    """The plan as a PFIF 1.4 document, a person at a time."""
    writer = PfifWriter(PFIF_14)
    yield writer.start()
    for person in plan.persons:
        yield writer.person(person, plan.notes.get(person["person_record_id"], []))
    for note in plan.loose_notes:
        yield writer.note(note)
    yield writer.end()
