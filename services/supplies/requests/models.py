"""Requests for relief items: from a shelter, or from another municipality (EDXL-RM).

A request moves Draft → Submitted → Approved → Committed → Shipped → Received, or to
Cancelled from any state before Shipped. Each line keeps what was requested, committed,
shipped and received, and what is short (requested − committed until the goods arrive,
then requested − received). A commitment names the lots it takes (`Allocation`): the
allocation suggestion's picks as staff confirmed or changed them, held against the stock
until shipped.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplies.stock.models import QUANTITY
from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class Status(StrEnum):
    DRAFT = "draft"  # 下書き
    SUBMITTED = "submitted"  # 提出済
    APPROVED = "approved"  # 承認済
    COMMITTED = "committed"  # 引当済
    SHIPPED = "shipped"  # 出荷済
    RECEIVED = "received"  # 受領済
    CANCELLED = "cancelled"  # 取消


class Origin(StrEnum):
    SHELTER = "shelter"  # 避難所から
    MUNICIPALITY = "municipality"  # 他の自治体から（EDXL-RM RequestResource）


class Request(TenantScoped, Base):
    __tablename__ = "supplies_requests"
    __table_args__ = (
        Index("ix_supplies_requests_status", "tenant_id", "status", "created_at"),
        Index("ix_supplies_requests_shelter", "tenant_id", "shelter_id", "created_at"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    #: the shelter it is for (a request from another municipality: the place it named, if any)
    shelter_id: Mapped[str | None] = mapped_column(ForeignKey("supplies_places.id"), nullable=True)
    #: a request from another municipality: its 全国地方公共団体コード and its message id
    requester_tenant: Mapped[str] = mapped_column(String(6), nullable=False, default="")
    requester_message_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    needed_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    committed_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    cancel_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: a request made with the client's id: the hash of what was sent, so a resend of the
    #: same form answers this request and the same id with other content is refused (the
    #: lines change as a draft grows, so they cannot be compared afterwards)
    content_digest: Mapped[str] = mapped_column(String(64), nullable=False, default="")


class RequestLine(TenantScoped, Base):
    __tablename__ = "supplies_request_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_id", "item_id", name="uq_supplies_request_lines"),
        CheckConstraint(
            "requested > 0 AND vulnerable >= 0 AND vulnerable <= requested AND committed >= 0 "
            "AND shipped >= 0 AND received >= 0 AND short >= 0",
            name="quantities",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    request_id: Mapped[str] = mapped_column(ForeignKey("supplies_requests.id"), nullable=False)
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    requested: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
    #: of it, for vulnerable groups (要配慮者: infants, elderly, pregnant, allergies, medical)
    vulnerable: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=Decimal(0))
    committed: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=Decimal(0))
    shipped: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=Decimal(0))
    received: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=Decimal(0))
    short: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=Decimal(0))
    #: EDXL-RM ResourceInfoElementID of the line (its own when exported, the requester's
    #: when it came from another municipality)
    element_id: Mapped[str] = mapped_column(String(100), nullable=False, default="")


class Allocation(TenantScoped, Base):
    """One pick of a commitment: this much of a lot at a depot, held for a line until it
    ships (then `shipment_id` is set). The rule that suggested it stays beside it."""

    __tablename__ = "supplies_allocations"
    __table_args__ = (
        Index("ix_supplies_allocations_request", "tenant_id", "request_id"),
        Index("ix_supplies_allocations_lot", "tenant_id", "place_id", "lot_id"),
        CheckConstraint("quantity > 0", name="positive"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    request_id: Mapped[str] = mapped_column(ForeignKey("supplies_requests.id"), nullable=False)
    line_id: Mapped[str] = mapped_column(ForeignKey("supplies_request_lines.id"), nullable=False)
    place_id: Mapped[str] = mapped_column(ForeignKey("supplies_places.id"), nullable=False)
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    lot_id: Mapped[str] = mapped_column(ForeignKey("supplies_lots.id"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
    #: the rule code and its words (日本語 / English); "changed by staff" when changed
    rule: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    explanation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    shipment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Kit(TenantScoped, Base):
    """A named set of items sent together (乳児セット: ミルク, おむつ, おしりふき …)."""

    __tablename__ = "supplies_kits"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_supplies_kits_tenant_code"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)


class KitItem(TenantScoped, Base):
    __tablename__ = "supplies_kit_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kit_id", "item_id", name="uq_supplies_kit_items"),
        CheckConstraint("quantity > 0", name="positive"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    kit_id: Mapped[str] = mapped_column(ForeignKey("supplies_kits.id"), nullable=False)
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
