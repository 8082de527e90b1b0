"""The per-tenant change log and its head (the next seq, the current epoch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base
from yui.db.types import UTCDateTime


class ChangeLogEntry(Base):
    """One row change of one committed transaction: seq 1, 2, 3, … per tenant, no gaps."""

    __tablename__ = "change_log"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: entries of one transaction share its first seq, so a replica applies them together
    tx_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    table_name: Mapped[str] = mapped_column(String(63), nullable=False)
    op: Mapped[str] = mapped_column(String(6), nullable=False)  # insert | update | delete
    pk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    #: insert: the whole row; update: the changed columns; delete: null (a tombstone)
    row: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class LogHead(Base):
    """Per tenant: the last seq handed out and the epoch this site writes with.

    Updating this row is the last statement of every write transaction, so on
    PostgreSQL its row lock orders a tenant's commits exactly as their seqs.
    """

    __tablename__ = "log_heads"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: True while this site's copy of the tenant is a replica (replication sets it): its
    #: log takes only the entries its primary ships, so change capture refuses a local
    #: write whatever the write gate decided (the last line of defence)
    replica: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
