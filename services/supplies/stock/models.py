"""Stock: lots, the ledger of movements, and the balances kept from it.

The ledger is the truth. A movement (receipt, transfer, issue, adjustment) is one
header and its lines; a line is a signed quantity of one lot at one place. Nothing
edits or deletes a movement; a mistake is corrected by another movement.

`StockBalance` is the quantity of each lot at each place, changed in the same unit of
work as every line that moves it (so reading stock levels never sums the ledger), and
never below zero (a CHECK constraint behind the service's own refusal). A check
recomputes it from the ledger (stock.service.verify_balances).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime

#: every quantity: up to 999,999,999.999 of an item's unit
QUANTITY = Numeric(15, 3)


class MovementKind(StrEnum):
    RECEIPT = "receipt"  # 受入: into a place from outside (purchase, donation, push support)
    TRANSFER = "transfer"  # 移送: from one place to another (lines out and in balance)
    ISSUE = "issue"  # 払出: handed out to people at a place
    ADJUSTMENT = "adjustment"  # 調整: with a reason


class AdjustmentReason(StrEnum):
    DAMAGED = "damaged"  # 破損（減）
    EXPIRED = "expired"  # 期限切れ（減）
    LOST = "lost"  # 紛失（減）
    FOUND = "found"  # 発見（増）
    STOCK_COUNT = "stock_count"  # 棚卸（増減どちらも）


class Lot(TenantScoped, Base):
    """A batch of one item with one expiry date: picking takes the earliest expiry first."""

    __tablename__ = "supplies_lots"
    __table_args__ = (Index("ix_supplies_lots_item_expiry", "tenant_id", "item_id", "expires_on"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    #: the maker's lot number from the label ("" when there is none)
    lot_code: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    #: 賞味期限・使用期限 (None: does not expire)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: where it came from (備蓄購入, 寄付: 〇〇社, プッシュ型支援 …)
    source: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Movement(TenantScoped, Base):
    """One movement of the ledger: what happened, when, why and who recorded it."""

    __tablename__ = "supplies_movements"
    __table_args__ = (Index("ix_supplies_movements_at", "tenant_id", "occurred_at"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    #: the client's id when it gives one (a resend is applied once), else a new UUID
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    #: an adjustment's reason ("" for the other kinds)
    reason: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    #: what it belongs to: a shipment, a request, a delivery note number (free form)
    reference: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class MovementLine(TenantScoped, Base):
    """A signed quantity of one lot at one place: + into the place, - out of it."""

    __tablename__ = "supplies_movement_lines"
    __table_args__ = (
        Index("ix_supplies_movement_lines_movement", "tenant_id", "movement_id"),
        Index("ix_supplies_movement_lines_place_lot", "tenant_id", "place_id", "lot_id"),
        CheckConstraint("quantity <> 0", name="nonzero"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    movement_id: Mapped[str] = mapped_column(ForeignKey("supplies_movements.id"), nullable=False)
    place_id: Mapped[str] = mapped_column(ForeignKey("supplies_places.id"), nullable=False)
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    lot_id: Mapped[str] = mapped_column(ForeignKey("supplies_lots.id"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)


class StockBalance(TenantScoped, Base):
    """How much of one lot is at one place now: the ledger's sum, kept with it."""

    __tablename__ = "supplies_stock_balances"
    __table_args__ = (
        UniqueConstraint("tenant_id", "place_id", "lot_id", name="uq_supplies_stock_balances_lot"),
        # the levels query reads a place's (or an item's) quantities and expiries from the
        # index alone (covering), not from each balance's row
        Index(
            "ix_supplies_stock_balances_place_item",
            "tenant_id",
            "place_id",
            "item_id",
            "quantity",
            "expires_on",
        ),
        # one item across every place, read in place order (the levels query groups so)
        Index(
            "ix_supplies_stock_balances_item",
            "tenant_id",
            "item_id",
            "place_id",
            "quantity",
            "expires_on",
        ),
        CheckConstraint("quantity >= 0", name="not_negative"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    place_id: Mapped[str] = mapped_column(ForeignKey("supplies_places.id"), nullable=False)
    item_id: Mapped[str] = mapped_column(ForeignKey("supplies_items.id"), nullable=False)
    lot_id: Mapped[str] = mapped_column(ForeignKey("supplies_lots.id"), nullable=False)
    #: the lot's expiry, copied here so picking (first expired, first out) reads one table
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
