"""The jobs table: one row per background job of a tenant.

A job is an ordinary tenant row, so it is change-logged and replicated like any other:
after a failover the new primary holds every job and the step each one reached.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
UNFINISHED = (QUEUED, RUNNING)


class Job(TenantScoped, Base):
    __tablename__ = "jobs"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(63), nullable=False, index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=QUEUED, index=True)
    #: the number of steps done (the next step to run, counting from 0)
    step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: what each step done returned, in order (its progress)
    results: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the site whose worker recorded the last step
    site: Mapped[str | None] = mapped_column(String(63), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
