"""The tenant row: one municipality. Itself tenant-scoped, so it replicates with its data."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Tenant(TenantScoped, Base):
    __tablename__ = "tenants"

    # tenant_id (the code) is the key; the mixin's column is reused as primary key.
    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefecture: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
