"""Safety-confirmation campaigns (安否確認): one per event a municipality checks on its residents.

A campaign is live or a drill (訓練). A drill's reports belong to the drill campaign only,
so no live view ever counts them, and staff may purge a drill with everything in it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class CampaignKind(StrEnum):
    LIVE = "live"  # 本番
    DRILL = "drill"  # 訓練


class Campaign(TenantScoped, Base):
    __tablename__ = "safety_check_campaigns"
    __table_args__ = (Index("ix_safety_check_campaigns_opened", "tenant_id", "opened_at"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    opened_by: Mapped[str] = mapped_column(String(100), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
