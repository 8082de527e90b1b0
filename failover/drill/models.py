"""The drill probe: one uniquely identified write, the unit a drill counts.

A probe row is an ordinary tenant row, so it is captured in the change log, replicated,
sealed, quarantined and digested like any service's row; the drill's checker then asks
every surviving copy which acknowledged probes it holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class DrillProbe(TenantScoped, Base):
    """Keyed by (tenant, client-generated id): an id of one tenant never collides with,
    nor reveals, another tenant's."""

    __tablename__ = "drill_probes"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    #: the client's content; the same id with another payload is a conflict (409)
    payload: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    written_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: the site that committed the probe (the tenant's primary then)
    site: Mapped[str] = mapped_column(String(63), nullable=False)
    #: the epoch that site wrote with (its log head's epoch)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: set by a delete, which keeps the row as a tombstone: an id is applied at most once,
    #: so a late copy of the first write (a request that waited in a frozen site) is a 409,
    #: never a new probe
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DrillCounter(TenantScoped, Base):
    """A counter the drill increments by read-modify-write: its value must equal the number
    of increments applied (``drill_counter_increments``), or an update was lost."""

    __tablename__ = "drill_counters"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class DrillCounterIncrement(TenantScoped, Base):
    """One applied increment, keyed by its client-generated id: a retried increment is
    applied once, and the checker can tell which acknowledged increments a copy holds."""

    __tablename__ = "drill_counter_increments"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    counter: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    #: the counter's value right after this increment (what the first answer returned)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    site: Mapped[str] = mapped_column(String(63), nullable=False)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
