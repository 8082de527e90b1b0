"""`yui residents generate`: synthetic residents into a file or into a tenant's registry."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from residents.assistance.models import AssistanceEntry, Supporter
from residents.csvio.importer import ImportOptions, ImportReport, import_file
from residents.csvio.writer import CsvSink
from residents.demo.generator import HEADER, AssistanceSpec, Generator
from residents.registry import fields
from residents.registry.models import Resident, new_id
from residents.settings import ResidentsSettings
from yui.audit import service as audit
from yui.changelog.bulk_insert import insert_rows
from yui.db.database import Database

Progress = Callable[[int], None]


def write_csv(
    stream: BinaryIO,
    tenant: str,
    count: int,
    *,
    seed: int = 0,
    encoding: str = "utf-8",
    progress: Progress | None = None,
) -> dict[str, AssistanceSpec]:
    """Write `count` synthetic residents as CSV; return who needs assistance (by 宛名番号)."""
    sink = CsvSink(stream, encoding)
    sink.write_header(HEADER)
    assistance: dict[str, AssistanceSpec] = {}
    chunk: list[list[str]] = []
    written = 0
    for resident in Generator(tenant, seed=seed).residents(count):
        chunk.append([resident.row[name] for name in HEADER])
        if resident.assistance is not None:
            assistance[resident.row["宛名番号"]] = resident.assistance
        if len(chunk) >= 5000:
            sink.write_rows(chunk)
            written += len(chunk)
            chunk = []
            if progress is not None:
                progress(written)
    sink.write_rows(chunk)
    if progress is not None:
        progress(written + len(chunk))
    return assistance


@dataclass
class Generated:
    report: ImportReport
    assisted: int


def generate(
    db: Database,
    tenant: str,
    count: int,
    *,
    seed: int = 0,
    actor: str,
    settings: ResidentsSettings | None = None,
    progress: Progress | None = None,
) -> Generated:
    """Generate residents into the registry through the ordinary CSV import, then add
    the needs-assistance entries that go with them."""
    with tempfile.TemporaryDirectory(prefix="yui-generate-") as directory:
        path = Path(directory) / f"{tenant}-{seed}.csv"
        with path.open("wb") as stream:
            specs = write_csv(stream, tenant, count, seed=seed)
        report = import_file(
            db,
            tenant,
            path,
            actor=actor,
            options=ImportOptions(),
            settings=settings,
            progress=progress,
        )
    assisted = add_assistance(db, tenant, specs, actor=actor) if report.committed else 0
    return Generated(report, assisted)


def add_assistance(
    db: Database, tenant: str, specs: dict[str, AssistanceSpec], *, actor: str
) -> int:
    numbers = sorted(specs)
    today = fields.today()
    now = datetime.now(UTC)
    added = 0
    with db.unit_of_work(tenant) as uow:
        for start in range(0, len(numbers), 2000):
            chunk = numbers[start : start + 2000]
            found = {
                number: (resident_id, kana_key)
                for number, resident_id, kana_key in uow.session.execute(
                    select(Resident.resident_no, Resident.id, Resident.kana_key).where(
                        Resident.resident_no.in_(chunk)
                    )
                )
            }
            entries, supporters = [], []
            for number in chunk:
                if number not in found:
                    continue
                spec = specs[number]
                entry_id = new_id()
                entries.append(
                    {
                        "id": entry_id,
                        "resident_id": found[number][0],
                        "kana_key": found[number][1],
                        "reasons": list(spec.reasons),
                        "care_level": spec.care_level,
                        "needs": spec.needs,
                        "priority": spec.priority,
                        "consent_to_share": spec.consent_to_share,
                        "consent_on": today if spec.consent_to_share else None,
                        "registered_on": today,
                        "updated_at": now,
                    }
                )
                supporters += [
                    {
                        "id": new_id(),
                        "entry_id": entry_id,
                        "position": position,
                        "name": supporter.name,
                        "role": supporter.role,
                        "phone": supporter.phone,
                        "email": "",
                    }
                    for position, supporter in enumerate(spec.supporters)
                ]
            insert_rows(uow.session, AssistanceEntry, entries)
            insert_rows(uow.session, Supporter, supporters)
            added += len(entries)
        audit.record(
            uow.session,
            actor=actor,
            action="assistance.generate",
            subject_type="assistance_register",
            detail={"entries": added},
        )
        uow.commit()
    return added
