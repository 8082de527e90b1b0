"""Staff accounts. Each belongs to one municipality and replicates with it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime
from yui.tenancy.models import utcnow


class Role(StrEnum):
    ADMIN = "admin"  # manages accounts and settings of the municipality
    STAFF = "staff"  # reads and changes resident, safety and supply records
    SHELTER = "shelter"  # runs a shelter: check-ins, the minimum about a resident
    DEPOT = "depot"  # runs a supply depot: requests, stock, deliveries
    AUDITOR = "auditor"  # reads everything and the audit log, changes nothing


class StaffUser(TenantScoped, Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username", name="uq_staff_users_tenant_username"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
