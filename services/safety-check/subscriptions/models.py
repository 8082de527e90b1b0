"""Subscriptions: a searcher asks to be told when a person's status changes.

A subscription belongs to one live campaign and ends with it (its rows are deleted when
the campaign closes). The e-mail address is kept only to send to: no list, view,
export or audit entry ever shows it, to staff or anyone; staff see counts only.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class Subscription(TenantScoped, Base):
    __tablename__ = "safety_check_subscriptions"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "resident_id",
            "email",
            name="uq_safety_check_subscriptions_email",
        ),
        Index("ix_safety_check_subscriptions_resident", "tenant_id", "campaign_id", "resident_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), nullable=False
    )
    resident_id: Mapped[str] = mapped_column(String(36), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: None until the link in the confirmation e-mail is followed: nothing is sent before
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the public status last told (a second job for the same change sends nothing)
    notified_status: Mapped[str] = mapped_column(String(30), nullable=False, default="")


def end_with_campaign(session: Session, campaign_id: str) -> int:
    """Delete every subscription of a campaign (row by row, so replicas delete them too)."""
    rows = list(
        session.execute(
            select(Subscription).where(Subscription.campaign_id == campaign_id)
        ).scalars()
    )
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def forget_resident(session: Session, campaign_id: str, resident_id: str) -> None:
    """Delete the subscriptions to one resident (who may no longer be told about)."""
    for row in session.execute(
        select(Subscription).where(
            Subscription.campaign_id == campaign_id, Subscription.resident_id == resident_id
        )
    ).scalars():
        session.delete(row)
    session.flush()
