"""Staff accounts. Each belongs to one municipality and replicates with it."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
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
        UniqueConstraint("tenant_id", "username_key", name="uq_staff_users_tenant_username_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    #: the username as compared: NFKC case-folded (PA-STAFF, pa-staff and ｐａ－ｓｔａｆｆ are one)
    username_key: Mapped[str] = mapped_column(
        String(64),
        nullable=False,
        default=lambda context: username_key(context.get_current_parameters()["username"]),
    )
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: raised when the account's tokens must stop working (disabled, password or roles
    #: changed, signed out); a token carries the generation it was issued in. A column of
    #: the tenant's own table, so it replicates to every site with the tenant's rows.
    token_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def username_key(username: str) -> str:
    """How usernames are compared and kept unique: NFKC, case folded, NFKC again
    (Unicode's NFKC_Casefold, near enough for the ASCII names accounts are made with)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())
