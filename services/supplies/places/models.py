"""Places of relief supplies: depots (備蓄倉庫, 物資拠点) and shelters (避難所, 福祉避難所).

Both are one table: stock lives at a place, whichever kind it is (a shelter keeps what
it was sent until it hands it out), so every movement, request and shipment names one
`supplies_places` row. The shelter's own facts (capacity, floor area, toilets, open or
closed) are columns that a depot leaves at zero.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class PlaceKind(StrEnum):
    STOCKPILE = "stockpile"  # 備蓄倉庫
    HUB = "hub"  # 物資拠点（地域内輸送拠点）
    SHELTER = "shelter"  # 指定避難所
    WELFARE_SHELTER = "welfare_shelter"  # 福祉避難所

    @property
    def is_depot(self) -> bool:
        return self in (PlaceKind.STOCKPILE, PlaceKind.HUB)

    @property
    def is_shelter(self) -> bool:
        return not self.is_depot


DEPOT_KINDS = (PlaceKind.STOCKPILE.value, PlaceKind.HUB.value)
SHELTER_KINDS = (PlaceKind.SHELTER.value, PlaceKind.WELFARE_SHELTER.value)


class Place(TenantScoped, Base):
    __tablename__ = "supplies_places"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", name="uq_supplies_places_tenant_code"),
        CheckConstraint(
            "capacity_day >= 0 AND capacity_night >= 0 AND toilets >= 0", name="capacities"
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    #: the municipality's own short code (e.g. "S-012", "D-01"): what staff type in a CLI
    code: Mapped[str] = mapped_column(String(20), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    address: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    contact_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    contact_phone: Mapped[str] = mapped_column(String(30), nullable=False, default="")
    #: who runs it (運営主体: 市職員, 施設管理者, 自主防災組織, 社会福祉法人 …)
    operator: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    #: a retired place keeps its history but takes no new stock or evacuees
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # -- shelters (zero / empty for a depot) --
    #: people it takes by day (昼間) and overnight (夜間, sleeping)
    capacity_day: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    capacity_night: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: living floor area usable by evacuees, m² (the 3.5 m² per person standard)
    floor_area_m2: Mapped[Decimal] = mapped_column(
        Numeric(10, 1), nullable=False, default=Decimal(0)
    )
    #: toilets usable there now (installed and portable), against one per 50 / per 20 people
    toilets: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    step_free: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    accessible_toilet: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    accessibility_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: open to evacuees now (開設中); opened_at is when it last opened
    is_open: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PlaceAssignment(TenantScoped, Base):
    """Which place a shelter or depot account works: the shelter role sees and changes
    only its own shelter, the depot role only its depot's stock."""

    __tablename__ = "supplies_place_assignments"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "username", "place_id", name="uq_supplies_place_assignments_user_place"
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    #: the staff account's username (as the token names it)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    place_id: Mapped[str] = mapped_column(ForeignKey("supplies_places.id"), nullable=False)
    assigned_by: Mapped[str] = mapped_column(String(100), nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
