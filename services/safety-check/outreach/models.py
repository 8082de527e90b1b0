"""The fan-out's plan: who gets which message, in which batch (tenant tables).

A round (the first message, then each reminder) is planned in one unit of work with the
job that sends it: one row per person, with the channel and address, in the order they
are to be reached (needs-assistance residents first) and cut into batches. The plan
replicates with the job, so after a failover the new primary's worker sends the same
batches to the same people, with the same keys.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


def new_id() -> str:
    return str(uuid.uuid4())


class OutreachRound(TenantScoped, Base):
    """One round of messages of a campaign: 0 the first, 1, 2 … the reminders."""

    __tablename__ = "safety_check_outreach_rounds"
    __table_args__ = (
        Index(
            "ix_safety_check_outreach_rounds_campaign",
            "tenant_id",
            "campaign_id",
            "round",
            unique=True,
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(String(36), nullable=False)
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    #: the background job that sends the round
    job_id: Mapped[str] = mapped_column(String(36), nullable=False)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    planned_by: Mapped[str] = mapped_column(String(100), nullable=False)
    messages: Mapped[int] = mapped_column(Integer, nullable=False)
    batches: Mapped[int] = mapped_column(Integer, nullable=False)
    #: residents with no address on any channel this site has (door-to-door instead)
    unreachable: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: round 0: minutes after it when non-responders are reminded
    reminder_minutes: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)


class OutreachMessage(TenantScoped, Base):
    """One planned message: a resident, a channel and an address, in a batch."""

    __tablename__ = "safety_check_outreach_messages"
    __table_args__ = (
        Index(
            "ix_safety_check_outreach_messages_batch",
            "tenant_id",
            "campaign_id",
            "round",
            "batch",
            "position",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(String(36), nullable=False)
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    batch: Mapped[int] = mapped_column(Integer, nullable=False)
    #: the order within the round (needs-assistance residents first)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    resident_id: Mapped[str] = mapped_column(String(36), nullable=False)
    #: "email" | "webhook"
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    language: Mapped[str] = mapped_column(String(16), nullable=False, default="ja")
    needs_assistance: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
