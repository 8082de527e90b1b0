"""Shipments, receipts with their discrepancies, and unsolicited donation offers.

A shipment carries committed picks from one depot to one shelter (or to another
municipality). Dispatching it is one ledger transfer (stock.service.record): from the
depot to the destination, so goods on the road count at the place they are going to.
A receipt records what arrived per line; any difference from what was shipped is a
`Discrepancy` (short, damaged, over, wrong item) and its ledger adjustment at the
destination — received never differs from shipped without one.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from supplies.stock.models import QUANTITY
from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class ShipmentStatus(StrEnum):
    DISPATCHED = "dispatched"  # 出発
    RECEIVED = "received"  # 受領（一部受領を含む: 差異は Discrepancy に）
    CANCELLED = "cancelled"  # 取消（出発前のみ）


class DiscrepancyKind(StrEnum):
    SHORT = "short"  # 不足（届かなかった）
    DAMAGED = "damaged"  # 破損（届いたが使えない）
    OVER = "over"  # 過剰（出荷より多く届いた）


class Shipment(TenantScoped, Base):
    __tablename__ = "supplies_shipments"
    __table_args__ = (Index("ix_supplies_shipments_request", "tenant_id", "request_id"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    request_id: Mapped[str] = mapped_column(ForeignKey("supplies_requests.id"), nullable=False)
    from_place_id: Mapped[str] = mapped_column(ForeignKey("supplies_places.id"), nullable=False)
    #: the shelter; None when the goods leave for another municipality
    to_place_id: Mapped[str | None] = mapped_column(ForeignKey("supplies_places.id"), nullable=True)
    to_tenant: Mapped[str] = mapped_column(String(6), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    vehicle: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    driver: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    driver_phone: Mapped[str] = mapped_column(String(30), nullable=False, default="")
    departed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dispatched_by: Mapped[str] = mapped_column(String(100), nullable=False)
    received_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    #: the ledger movement that moved the goods (transfer out of the depot)
    movement_id: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ShipmentLine(TenantScoped, Base):
    __tablename__ = "supplies_shipment_lines"
    __table_args__ = (
        Index("ix_supplies_shipment_lines_shipment", "tenant_id", "shipment_id"),
        CheckConstraint("shipped > 0 AND received >= 0", name="quantities"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    shipment_id: Mapped[str] = mapped_column(ForeignKey("supplies_shipments.id"), nullable=False)
    request_line_id: Mapped[str] = mapped_column(
        ForeignKey("supplies_request_lines.id"), nullable=False
    )
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    lot_id: Mapped[str] = mapped_column(ForeignKey("supplies_lots.id"), nullable=False)
    shipped: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
    received: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=Decimal(0))


class Discrepancy(TenantScoped, Base):
    """What arrived differs from what was shipped: the kind, how much, what was seen."""

    __tablename__ = "supplies_discrepancies"
    __table_args__ = (
        Index("ix_supplies_discrepancies_shipment", "tenant_id", "shipment_id"),
        CheckConstraint("quantity > 0", name="positive"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    shipment_id: Mapped[str] = mapped_column(ForeignKey("supplies_shipments.id"), nullable=False)
    shipment_line_id: Mapped[str] = mapped_column(
        ForeignKey("supplies_shipment_lines.id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    reported_by: Mapped[str] = mapped_column(String(100), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: the ledger adjustment that made the destination's stock what arrived
    movement_id: Mapped[str] = mapped_column(String(36), nullable=False, default="")


class OfferStatus(StrEnum):
    OFFERED = "offered"  # 申し出
    ACCEPTED = "accepted"  # 受入決定
    DECLINED = "declined"  # 辞退
    RECEIVED = "received"  # 受入済


class DonationOffer(TenantScoped, Base):
    """An unsolicited offer (企業・団体・個人からの寄付の申し出): staff accept or decline
    it; accepted goods are received into a depot through the ledger."""

    __tablename__ = "supplies_donation_offers"
    __table_args__ = (Index("ix_supplies_donation_offers_status", "tenant_id", "status"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    donor: Mapped[str] = mapped_column(String(200), nullable=False)
    contact: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    decision_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    movement_id: Mapped[str] = mapped_column(String(36), nullable=False, default="")


class DonationLine(TenantScoped, Base):
    __tablename__ = "supplies_donation_lines"
    __table_args__ = (
        Index("ix_supplies_donation_lines_offer", "tenant_id", "offer_id"),
        CheckConstraint("quantity > 0", name="positive"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    offer_id: Mapped[str] = mapped_column(ForeignKey("supplies_donation_offers.id"), nullable=False)
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
