"""The audit log: append-only and hash-chained per tenant; replicated like any table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, event
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class AuditEntry(TenantScoped, Base):
    __tablename__ = "audit_log"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    #: 1, 2, 3, … per tenant; a gap means a deleted entry
    n: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(50), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(50), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHead(TenantScoped, Base):
    """The newest entry's number and hash: locked by each append, and the anchor that
    reveals entries cut off the end of the chain."""

    __tablename__ = "audit_heads"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _append_only(_mapper: Any, _connection: Any, target: AuditEntry) -> None:
    # Replication inserts only; nothing in the platform updates or deletes an entry.
    raise PermissionError(f"audit entry {target.n} is append-only")
