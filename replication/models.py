"""Replication's own tables. They belong to this site, not to a tenant's data: they are
not `TenantScoped`, so they are neither change-logged nor shipped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base
from yui.db.types import UTCDateTime


class ReplicationState(Base):
    """Per tenant, what this site's copy holds. The log's head (the last seq logged
    here, durable) stays in the kernel's `log_heads`; this row says the rest."""

    __tablename__ = "replication_state"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    #: primary (writes itself) | replica (applies what a primary ships)
    role: Mapped[str] = mapped_column(String(8), nullable=False, default="replica")
    #: the seal: batches from a primary of a lower epoch are refused
    sealed_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: every entry up to here is applied to the tenant's rows (a transaction boundary)
    applied_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: the last transaction boundary known among the logged entries (>= applied_seq)
    complete_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: the first seq kept in this site's change log (below: truncated or in a snapshot)
    log_start: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1)
    #: the seq of the snapshot this copy was bootstrapped from, if any
    snapshot_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: the epoch history of the log: [[epoch, first seq written in it], ...] ascending
    epochs: Mapped[list[list[int]]] = mapped_column(JSON, nullable=False, default=list)
    #: the primary that last shipped to this copy
    source_site: Mapped[str | None] = mapped_column(String(63), nullable=True)
    #: the primary's head as it last said (for lag)
    primary_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: when the primary committed the last applied entry (for lag in seconds)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the primary's truncation floor: entries below it are held by every copy
    truncate_below: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: why applying is stuck (an entry that cannot be applied), or None
    stalled: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: at a primary: what its in-sync replicas acknowledged, and in which epoch (the
    #: backups archive up to it; replication.backup.acked)
    acked_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    acked_epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class QuarantinedEntry(Base):
    """A change-log entry kept aside, with its reason: never applied, never dropped.

    An entry is one (tenant, seq, epoch): one primary writes a seq once in its epoch,
    so the triple names it everywhere; the same entry is quarantined once per site.
    """

    __tablename__ = "replication_quarantine"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq", "epoch", name="uq_replication_quarantine_entry"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tx_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    table_name: Mapped[str] = mapped_column(String(63), nullable=False)
    op: Mapped[str] = mapped_column(String(6), nullable=False)
    pk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    row: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: fenced | diverged | apply-failed | incomplete
    reason_code: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    #: the site whose log held the entry (a deposed primary, or this site)
    source_site: Mapped[str] = mapped_column(String(63), nullable=False)
    quarantined_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
