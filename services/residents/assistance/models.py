"""避難行動要支援者名簿: who needs help to evacuate, why, and who will help them.

災害対策基本法 第49条の10〜13: the municipality keeps the register; in normal times it
shares an entry with supporters (避難支援等関係者) only with the person's consent; in a
disaster it may share every entry without consent. A DV-blocked resident is never
in a list given outside the municipality's staff.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from residents.registry.models import key_column, new_id
from yui.db.base import Base, TenantScoped
from yui.tenancy.models import utcnow


class Reason(StrEnum):
    CARE_LEVEL = "care_level"  # 要介護・要支援認定
    DISABILITY = "disability"  # 障害 (身体・知的・精神)
    INFANT = "infant"  # 乳幼児
    PREGNANCY = "pregnancy"  # 妊産婦
    ELDERLY_ALONE = "elderly_alone"  # 高齢者のみ世帯・独居高齢者
    LANGUAGE = "language"  # 日本語が不自由 (外国人住民など)
    ILLNESS = "illness"  # 難病・医療的ケア
    OTHER = "other"  # その他


REASON_LABELS: dict[str, str] = {
    Reason.CARE_LEVEL: "要介護認定等",
    Reason.DISABILITY: "障害",
    Reason.INFANT: "乳幼児",
    Reason.PREGNANCY: "妊産婦",
    Reason.ELDERLY_ALONE: "独居高齢者等",
    Reason.LANGUAGE: "言語",
    Reason.ILLNESS: "難病等",
    Reason.OTHER: "その他",
}


class AssistanceEntry(TenantScoped, Base):
    __tablename__ = "residents_assistance"
    __table_args__ = (
        UniqueConstraint("tenant_id", "resident_id", name="uq_residents_assistance_resident"),
        Index("ix_residents_assistance_priority", "tenant_id", "priority"),
        # the register's order (priority, then reading) as an index: a page of it reads
        # that page, not a sort of the whole register joined to the residents
        Index("ix_residents_assistance_order", "tenant_id", "priority", "kana_key", "resident_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id"), nullable=False)
    #: Reason values, at least one
    reasons: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    #: 要支援1〜2 / 要介護1〜5, when the reason is a care level
    care_level: Mapped[str] = mapped_column(String(10), nullable=False, default="")
    #: what helpers need to know (移動に車椅子, 人工呼吸器, 手話, …)
    needs: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: 1 = reach first
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    #: the resident's `kana_key` (the register's reading order), kept equal to it by the
    #: registry whenever the reading changes
    kana_key: Mapped[str] = mapped_column(key_column(), nullable=False, default="")
    #: 平常時の名簿情報提供への同意
    consent_to_share: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    consent_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    registered_on: Mapped[date] = mapped_column(Date, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Supporter(TenantScoped, Base):
    """避難支援等関係者 named for one entry: family, 民生委員, 自主防災組織, neighbours."""

    __tablename__ = "residents_supporters"
    __table_args__ = (Index("ix_residents_supporters_entry", "tenant_id", "entry_id", "position"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    entry_id: Mapped[str] = mapped_column(ForeignKey("residents_assistance.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: 家族, 民生委員, 自主防災組織, 近隣住民, 消防団, 福祉専門職, …
    role: Mapped[str] = mapped_column(String(30), nullable=False, default="")
    phone: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
