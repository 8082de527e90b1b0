"""A municipality's own values for the needs standards (the defaults are in standards.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class StandardOverride(TenantScoped, Base):
    """One standard's value as this municipality set it (its 地域防災計画 may ask more)."""

    __tablename__ = "supplies_standard_overrides"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key", name="uq_supplies_standard_overrides_key"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    value: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False)
    set_by: Mapped[str] = mapped_column(String(100), nullable=False)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
