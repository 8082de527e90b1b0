"""Residents, households, and their history (異動).

A resident row holds the current state (住民票の現在の記載); every 異動 that ends a
state (転居, 世帯変更, 転出 then 転入 again) keeps the ended state as a period row,
so "who lived at this address / in this household on date D" is the union of the
current states that began on or before D (and had not ended) and the periods that
cover D. Each 異動 itself is a move row with its effective date (異動日).
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.tenancy.models import utcnow


def new_ids(count: int) -> list[str]:
    """`count` UUIDs version 7 at once (an import makes a million)."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    prefix = f"{stamp[:8]}-{stamp[8:]}-7"
    randomness = secrets.token_hex(10 * count)
    ids = []
    for index in range(0, 20 * count, 20):
        part = randomness[index : index + 20]
        variant = "89ab"[int(part[3], 16) & 3]
        ids.append(f"{prefix}{part[:3]}-{variant}{part[4:7]}-{part[7:19]}")
    return ids


def new_id() -> str:
    """A UUID version 7 (RFC 9562): time-ordered, so a million inserts append to the
    primary-key index instead of splitting pages all over it."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def key_column(length: int = 120) -> String:
    """A search-key column compared by code point on every database (see search.normalize)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Sex(StrEnum):
    MALE = "male"  # 男
    FEMALE = "female"  # 女


class Status(StrEnum):
    ACTIVE = "active"  # 住民 (記載)
    MOVED_OUT = "moved_out"  # 転出 (消除)
    DECEASED = "deceased"  # 死亡 (消除)


class MoveKind(StrEnum):
    MOVE_IN = "move_in"  # 転入
    BIRTH = "birth"  # 出生
    RELOCATION = "relocation"  # 転居 (within the municipality)
    MOVE_OUT = "move_out"  # 転出
    DEATH = "death"  # 死亡
    HOUSEHOLD_CHANGE = "household_change"  # 世帯変更


#: 続柄 of the head of a household
HEAD = "世帯主"


def address_text(town_name: str, block: str, building: str) -> str:
    """An address within the municipality on one line: 青葉区一番町一丁目2-3 〇〇ハイツ101."""
    text = f"{town_name}{block}"
    return f"{text} {building}" if building else text


class Household(TenantScoped, Base):
    """世帯: the people who share a dwelling and a livelihood. The head is the member
    whose 続柄 is 世帯主."""

    __tablename__ = "residents_households"
    __table_args__ = (
        UniqueConstraint("tenant_id", "household_no", name="uq_residents_households_number"),
    )

    # The unique constraint leads with tenant_id, so the mixin's own index is not needed.
    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    #: 世帯番号, the municipality's number for the household
    household_no: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Resident(TenantScoped, Base):
    __tablename__ = "residents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "resident_no", name="uq_residents_number"),
        # Every query carries tenant_id = ?, so every index leads with it (an index
        # that does not would lose to any index on tenant_id alone). The search keys
        # end with id so that a page in (key, id) order is an index range, no sort.
        Index("ix_residents_name_key", "tenant_id", "name_key", "id"),
        Index("ix_residents_kana_key", "tenant_id", "kana_key", "id"),
        Index("ix_residents_address_key", "tenant_id", "address_key"),
        Index("ix_residents_birth_date", "tenant_id", "birth_date", "kana_key", "id"),
        Index("ix_residents_household", "tenant_id", "household_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    #: 宛名番号: the municipality's own number for the person (the import's key)
    resident_no: Mapped[str] = mapped_column(String(20), nullable=False)
    household_id: Mapped[str] = mapped_column(ForeignKey("residents_households.id"), nullable=False)
    #: 続柄 (世帯主との続柄): 世帯主, 妻, 子, 母, 同居人, …
    relationship: Mapped[str] = mapped_column(String(20), nullable=False)

    family_name: Mapped[str] = mapped_column(String(50), nullable=False)
    given_name: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    family_kana: Mapped[str] = mapped_column(String(50), nullable=False)
    given_kana: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    name_key: Mapped[str] = mapped_column(key_column(), nullable=False)
    kana_key: Mapped[str] = mapped_column(key_column(), nullable=False)
    birth_date: Mapped[date] = mapped_column(Date, nullable=False)
    sex: Mapped[str] = mapped_column(String(6), nullable=False)
    #: 国籍・地域 of a foreign resident (外国人住民); empty for Japanese nationals
    nationality: Mapped[str] = mapped_column(String(60), nullable=False, default="")

    status: Mapped[str] = mapped_column(String(10), nullable=False, default=Status.ACTIVE)
    #: the date the status began (転出日, 死亡日); null while active
    status_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: 住民となった年月日
    became_resident_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: 住定年月日: the date the current address was taken
    address_since: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: when the current state (address and household) began: the last 異動's date
    state_since: Mapped[date] = mapped_column(Date, nullable=False)

    #: 町字コード (アドレス・ベース・レジストリの町字ID) and 町字 (e.g. 青葉区一番町一丁目)
    town_code: Mapped[str] = mapped_column(String(12), nullable=False, default="")
    town_name: Mapped[str] = mapped_column(String(80), nullable=False)
    #: 番地・住居番号 (e.g. 2-3)
    block: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    #: 方書: building and room
    building: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    address_key: Mapped[str] = mapped_column(key_column(), nullable=False)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)

    phone: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    #: preferred language, a BCP 47 tag (ja, en, vi, zh-Hans, pt-BR, …)
    language: Mapped[str] = mapped_column(String(16), nullable=False, default="ja")

    #: DV等支援措置 (住民基本台帳事務における支援措置): the resident never appears in a
    #: citizen-facing, public, other-system or non-staff output
    dv_block: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    dv_block_since: Mapped[date | None] = mapped_column(Date, nullable=True)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: set by the service on every change (not `onupdate`: the change log records only
    #: attribute changes, and a value the database computes would never reach a replica)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: incremented on every change; a write based on an older version is refused (409)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class Period(TenantScoped, Base):
    """A state of a resident that has ended: [valid_from, valid_to)."""

    __tablename__ = "residents_periods"
    __table_args__ = (
        Index("ix_residents_periods_address_key", "tenant_id", "address_key"),
        Index("ix_residents_periods_household", "tenant_id", "household_id"),
        Index("ix_residents_periods_resident", "tenant_id", "resident_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id"), nullable=False)
    household_id: Mapped[str] = mapped_column(ForeignKey("residents_households.id"), nullable=False)
    relationship: Mapped[str] = mapped_column(String(20), nullable=False)
    town_code: Mapped[str] = mapped_column(String(12), nullable=False, default="")
    town_name: Mapped[str] = mapped_column(String(80), nullable=False)
    block: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    building: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    address_key: Mapped[str] = mapped_column(key_column(), nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    #: exclusive: the effective date of the 異動 that ended this state
    valid_to: Mapped[date] = mapped_column(Date, nullable=False)


class Move(TenantScoped, Base):
    """異動: one change of a resident's status, address or household, with its dates."""

    __tablename__ = "residents_moves"
    __table_args__ = (
        Index("ix_residents_moves_resident", "tenant_id", "resident_id", "effective_on"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    #: 異動日: when the change took effect
    effective_on: Mapped[date] = mapped_column(Date, nullable=False)
    #: 届出日: when it was notified (null for 職権 changes)
    notified_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    from_household_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    to_household_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: the address before and after, as written (従前の住所 / 異動後の住所)
    from_address: Mapped[str] = mapped_column(String(250), nullable=False, default="")
    to_address: Mapped[str] = mapped_column(String(250), nullable=False, default="")
    #: 転入元 / 転出先: the other municipality's address, as notified
    other_address: Mapped[str] = mapped_column(String(250), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
