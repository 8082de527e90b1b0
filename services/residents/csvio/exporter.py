"""Exporting residents: the standard CSV, PFIF 1.4 person records, the shareable register.

What leaves the municipality's own use decides what is written:

- the resident CSV is for another municipal system (migration, backup): residents
  under a DV-support block are left out unless a staff member asks for them
  explicitly (`include_restricted`, audited) — then the 支援措置 column says so;
- PFIF (Person Finder) is public by nature: never a DV-blocked or former resident,
  and only what finding a person needs (no house number, no phone);
- the shareable needs-assistance list goes to supporters: never a DV-blocked
  resident, and in normal times only those who consented.

Rows are read in pages of `PAGE` in (resident_no, id) order and written as they
come, so an export of a million residents keeps little in memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesNSImpl

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from residents.assistance import service as assistance
from residents.assistance.models import REASON_LABELS
from residents.csvio.columns import COLUMNS, STATUS_LABELS
from residents.csvio.writer import CsvSink
from residents.registry.fields import SEX_LABELS
from residents.registry.models import HEAD, Household, Resident, Sex, Status, address_text
from residents.registry.service import visible_to_non_staff
from yui.audit import service as audit
from yui.db.database import Database

PAGE = 2000


@dataclass(frozen=True)
class ExportOptions:
    encoding: str = "utf-8"
    include_restricted: bool = False
    include_inactive: bool = False


def _pages(
    session: Session, *, non_staff: bool, include_restricted: bool, include_inactive: bool
) -> Iterator[list[tuple[Resident, str, str]]]:
    """(resident, household number, head's name) in (resident_no, id) order, page by page."""
    head = aliased(Resident)
    statement = (
        select(Resident, Household.household_no, head.family_name, head.given_name)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(
            head,
            and_(
                head.household_id == Resident.household_id,
                head.relationship == HEAD,
                head.status == Status.ACTIVE,
            ),
        )
    )
    if non_staff:
        statement = statement.where(visible_to_non_staff())
    else:
        if not include_restricted:
            statement = statement.where(Resident.dv_block.is_(False))
        if not include_inactive:
            statement = statement.where(Resident.status == Status.ACTIVE)
    after: tuple[str, str] | None = None
    while True:
        page = statement
        if after is not None:
            page = page.where(
                or_(
                    Resident.resident_no > after[0],
                    and_(Resident.resident_no == after[0], Resident.id > after[1]),
                )
            )
        rows = session.execute(page.order_by(Resident.resident_no, Resident.id).limit(PAGE)).all()
        if not rows:
            return
        yield [
            (resident, household_no, f"{family}\u3000{given}".strip() if family else "")
            for resident, household_no, family, given in rows
        ]
        last = rows[-1][0]
        after = (last.resident_no, last.id)
        session.expunge_all()  # keep the identity map from growing with the export


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def csv_row(resident: Resident, household_no: str, head_name: str) -> list[object]:
    values: dict[str, object] = {
        "resident_no": resident.resident_no,
        "household_no": household_no,
        "name": f"{resident.family_name}\u3000{resident.given_name}".strip(),
        "kana": f"{resident.family_kana}\u3000{resident.given_kana}".strip(),
        "birth_date": _iso(resident.birth_date),
        "sex": SEX_LABELS[Sex(resident.sex)],
        "relationship": resident.relationship,
        "head_name": head_name,
        "nationality": resident.nationality,
        "became_resident_on": _iso(resident.became_resident_on),
        "address_since": _iso(resident.address_since),
        "status": STATUS_LABELS[resident.status],
        "status_on": _iso(resident.status_on),
        "town_code": resident.town_code,
        "town_name": resident.town_name,
        "block": resident.block,
        "building": resident.building,
        "latitude": "" if resident.latitude is None else f"{resident.latitude:.6f}",
        "longitude": "" if resident.longitude is None else f"{resident.longitude:.6f}",
        "phone": resident.phone,
        "email": resident.email,
        "language": resident.language,
        "dv_block": "1" if resident.dv_block else "0",
    }
    return [values[column.field] for column in COLUMNS]


def export_csv(db: Database, tenant: str, *, actor: str, options: ExportOptions) -> Iterator[bytes]:
    """The resident CSV, as encoded chunks. The export is audited before the first byte."""
    sink = CsvSink(None, options.encoding)  # validates the encoding before anything else
    with db.unit_of_work(tenant) as uow:
        audit.record(
            uow.session,
            actor=actor,
            action="resident.export",
            subject_type="resident",
            detail={
                "format": "csv",
                "encoding": options.encoding,
                "include_restricted": options.include_restricted,
                "include_inactive": options.include_inactive,
            },
        )
        uow.commit()
    return _csv_chunks(db, tenant, sink, options)


def _csv_chunks(
    db: Database, tenant: str, sink: CsvSink, options: ExportOptions
) -> Iterator[bytes]:
    yield sink.write_header(column.name for column in COLUMNS)
    with db.unit_of_work(tenant, read_only=True) as uow:
        for page in _pages(
            uow.session,
            non_staff=False,
            include_restricted=options.include_restricted,
            include_inactive=options.include_inactive,
        ):
            yield sink.write_rows(csv_row(*item) for item in page)


# --- PFIF 1.4 -------------------------------------------------------------------------------

PFIF_NAMESPACE = "http://zesty.ca/pfif/1.4"
NO_ATTRIBUTES = AttributesNSImpl({}, {})


def export_pfif(
    db: Database, tenant: str, *, actor: str, domain: str, municipality: str, prefecture: str
) -> Iterator[bytes]:
    """PFIF 1.4 person records for Person-Finder-style systems (public by nature).

    Never a DV-blocked or former resident. Only what finding a person needs: names
    (with the kana reading as an alternate name), sex, date of birth, 町字, city,
    prefecture; no house number, no phone, no e-mail.
    """
    with db.unit_of_work(tenant) as uow:
        audit.record(
            uow.session,
            actor=actor,
            action="resident.export",
            subject_type="resident",
            detail={"format": "pfif-1.4", "domain": domain},
        )
        uow.commit()
    return _pfif_chunks(db, tenant, domain, municipality, prefecture)


def _pfif_chunks(
    db: Database, tenant: str, domain: str, municipality: str, prefecture: str
) -> Iterator[bytes]:
    now = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    # A streaming XML writer (it escapes every text): a page of persons is written and
    # handed on before the next is read, so a large export keeps little in memory.
    buffer = io.StringIO()
    xml = XMLGenerator(buffer, encoding="UTF-8", short_empty_elements=False)
    xml.startDocument()
    xml.startPrefixMapping("pfif", PFIF_NAMESPACE)
    xml.startElementNS((PFIF_NAMESPACE, "pfif"), "pfif:pfif", NO_ATTRIBUTES)
    xml.ignorableWhitespace("\n")
    with db.unit_of_work(tenant, read_only=True) as uow:
        for page in _pages(
            uow.session, non_staff=True, include_restricted=False, include_inactive=False
        ):
            for resident, _household_no, _head in page:
                fields = [
                    ("person_record_id", f"{domain}/person.{resident.id}"),
                    ("entry_date", now),
                    ("author_name", municipality),
                    ("source_name", f"{prefecture}{municipality} 住民基本台帳"),
                    ("source_date", now),
                    ("full_name", f"{resident.family_name} {resident.given_name}".strip()),
                    ("given_name", resident.given_name),
                    ("family_name", resident.family_name),
                    ("alternate_names", f"{resident.family_kana} {resident.given_kana}".strip()),
                    ("sex", resident.sex),
                    ("date_of_birth", resident.birth_date.isoformat()),
                    ("home_neighborhood", resident.town_name),
                    ("home_city", municipality),
                    ("home_state", prefecture),
                    ("home_country", "JP"),
                ]
                _pfif_person(xml, fields)
            yield _drain(buffer)
    xml.endElementNS((PFIF_NAMESPACE, "pfif"), "pfif:pfif")
    xml.ignorableWhitespace("\n")
    xml.endPrefixMapping("pfif")
    xml.endDocument()
    yield _drain(buffer)


def _pfif_person(xml: XMLGenerator, fields: list[tuple[str, str]]) -> None:
    """One <pfif:person>, a field per line; empty fields are left out, as PFIF allows."""
    xml.ignorableWhitespace("  ")
    xml.startElementNS((PFIF_NAMESPACE, "person"), "pfif:person", NO_ATTRIBUTES)
    xml.ignorableWhitespace("\n")
    for name, value in fields:
        if value:
            xml.ignorableWhitespace("    ")
            xml.startElementNS((PFIF_NAMESPACE, name), f"pfif:{name}", NO_ATTRIBUTES)
            xml.characters(value)
            xml.endElementNS((PFIF_NAMESPACE, name), f"pfif:{name}")
            xml.ignorableWhitespace("\n")
    xml.ignorableWhitespace("  ")
    xml.endElementNS((PFIF_NAMESPACE, "person"), "pfif:person")
    xml.ignorableWhitespace("\n")


def _drain(buffer: io.StringIO) -> bytes:
    """What the writer wrote since the last call, as UTF-8."""
    written = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return written


# --- the shareable needs-assistance register ------------------------------------------------

ASSISTANCE_COLUMNS = (
    "優先度",
    "氏名",
    "氏名の振り仮名",
    "生年月日",
    "性別",
    "住所",
    "電話番号",
    "希望言語",
    "支援が必要な理由",
    "要介護度",
    "必要な支援",
    "支援者",
)


def export_assistance(
    db: Database, tenant: str, *, actor: str, disaster: bool, encoding: str
) -> Iterator[bytes]:
    """The register as it may be handed to supporters (避難支援等関係者)."""
    sink = CsvSink(None, encoding)
    with db.unit_of_work(tenant) as uow:
        listed = assistance.register_list(uow.session, non_staff=True, disaster=disaster)
        assistance.audit_list(
            uow.session, actor=actor, non_staff=True, disaster=disaster, count=len(listed)
        )
        uow.commit()
    rows = [
        [
            item.entry.priority,
            f"{item.resident.family_name}\u3000{item.resident.given_name}".strip(),
            f"{item.resident.family_kana}\u3000{item.resident.given_kana}".strip(),
            item.resident.birth_date.isoformat(),
            SEX_LABELS[Sex(item.resident.sex)],
            address_text(item.resident.town_name, item.resident.block, item.resident.building),
            item.resident.phone,
            item.resident.language,
            "・".join(REASON_LABELS.get(reason, reason) for reason in item.entry.reasons),
            item.entry.care_level,
            item.entry.needs,
            "; ".join(
                f"{supporter.name}（{supporter.role}）{supporter.phone}".strip()
                for supporter in item.supporters
            ),
        ]
        for item in listed
    ]
    return iter([sink.write_header(ASSISTANCE_COLUMNS), sink.write_rows(rows)])
