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
