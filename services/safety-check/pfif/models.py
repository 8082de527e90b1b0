"""PFIF records from other repositories (Person Finder and the like), kept as they came.

A record is named by its PFIF record id (`domain/unique`), unique per municipality. The
fields are kept under their PFIF 1.4 names, as JSON text (sorted keys, so every copy
of a row is byte-for-byte the same), so that an export writes back every field PFIF
carries. Our own persons and notes are never stored here: they are the registry's
residents and this service's reports, exported under this municipality's domain.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


def dump_fields(values: dict[str, str]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def load_fields(text: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(text)
    return loaded


class PfifPerson(TenantScoped, Base):
    __tablename__ = "safety_check_pfif_persons"
    __table_args__ = (
        UniqueConstraint("tenant_id", "record_id", name="uq_safety_check_pfif_persons_record"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    record_id: Mapped[str] = mapped_column(String(255), nullable=False)
    #: the record's own source_date: a later one replaces the stored record
    source_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: when this repository stored (or last replaced) it: PFIF's entry_date
    entry_date: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    fields_json: Mapped[str] = mapped_column(Text, nullable=False)


class PfifNote(TenantScoped, Base):
    __tablename__ = "safety_check_pfif_notes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "record_id", name="uq_safety_check_pfif_notes_record"),
        Index("ix_safety_check_pfif_notes_person", "tenant_id", "person_record_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    record_id: Mapped[str] = mapped_column(String(255), nullable=False)
    person_record_id: Mapped[str] = mapped_column(String(255), nullable=False)
    entry_date: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    fields_json: Mapped[str] = mapped_column(Text, nullable=False)
