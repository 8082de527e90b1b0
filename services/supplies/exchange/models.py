"""EDXL-RM messages between municipalities, one copy on each side.

Each side keeps its own row of every message it sent or received (no table is shared
between tenants): the XML as sent, who it was to or from, and where its delivery stands.
An outgoing message is delivered by a job (`exchange.job`) from this municipality's
primary to the receiver's primary; the row and the job replicate with the tenant, so a
failover on either side loses neither. The receiver keeps one row per (sender, message
id): a repeated delivery is answered with the first result.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class Direction(StrEnum):
    OUT = "out"
    IN = "in"


class Delivery(StrEnum):
    QUEUED = "queued"  # 送信待ち（ジョブが配送中）
    DELIVERED = "delivered"  # 相手の主系が受け取った
    REFUSED = "refused"  # 相手が拒否した（理由つき）
    RECEIVED = "received"  # こちらが受け取った


class ExchangeMessage(TenantScoped, Base):
    __tablename__ = "supplies_exchange_messages"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "direction",
            "counterpart",
            "message_id",
            name="uq_supplies_exchange_messages_message",
        ),
        Index("ix_supplies_exchange_messages_request", "tenant_id", "request_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    direction: Mapped[str] = mapped_column(String(4), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    #: EDXL-RM MessageID
    message_id: Mapped[str] = mapped_column(String(200), nullable=False)
    #: the other municipality's 全国地方公共団体コード
    counterpart: Mapped[str] = mapped_column(String(6), nullable=False)
    #: the local request it belongs to (ours, or the one made of their request)
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    xml: Mapped[str] = mapped_column(Text, nullable=False)
    delivery: Mapped[str] = mapped_column(String(16), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    job_id: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
