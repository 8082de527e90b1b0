"""Safety-confirmation campaigns (安否確認): one per event a municipality checks on its residents.

A campaign is live or a drill (訓練). A drill's reports belong to the drill campaign only,
so no live view ever counts them, and staff may purge a drill with everything in it.

Staff open a campaign, or an alert does (the municipality's `AlertRules`): an alert's
campaign waits `pending` through the false-alarm hold (its end, `hold_until`, is stored,
so it outlives a restart or a failover), then is `open`. Each alert that opened a
campaign or joined it later (the series rule, an update) is a `CampaignAlert`: the
notices staff see, and the record that makes a repeated alert change nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class CampaignKind(StrEnum):
    LIVE = "live"  # 本番
    DRILL = "drill"  # 訓練


class CampaignState(StrEnum):
    PENDING = "pending"  # an alert's campaign during the false-alarm hold: nothing sent yet
    OPEN = "open"  # reaching people (the fan-out starts when a campaign becomes open)
    CLOSED = "closed"  # ended by staff
    CANCELLED = "cancelled"  # a false alarm, cancelled by staff during the hold


class CampaignOrigin(StrEnum):
    STAFF = "staff"
    ALERT = "alert"


class Hazard(StrEnum):
    """What an alert-opened campaign is about (the series rule compares these)."""

    EARTHQUAKE = "earthquake"
    TSUNAMI = "tsunami"
    ERUPTION = "eruption"


class Campaign(TenantScoped, Base):
    __tablename__ = "safety_check_campaigns"
    __table_args__ = (
        Index("ix_safety_check_campaigns_opened", "tenant_id", "opened_at"),
        Index("ix_safety_check_campaigns_held", "tenant_id", "state"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    opened_by: Mapped[str] = mapped_column(String(100), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(10), nullable=False, default=CampaignState.OPEN)
    origin: Mapped[str] = mapped_column(String(8), nullable=False, default=CampaignOrigin.STAFF)
    #: for an alert's campaign: the hazard, the area codes of this municipality it named,
    #: and when the alert was sent (the series rule's window starts there)
    hazard: Mapped[str] = mapped_column(String(12), nullable=False, default="")
    area_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    alert_sent: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the end of the false-alarm hold (None: no hold)
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: when the campaign became open (sending may start) and who made it so: staff who
    #: opened it or sent it at once, or "hold" when the hold ended
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")


class CampaignAlert(TenantScoped, Base):
    """One alert that opened a campaign or was attached to it, with what staff are told.

    The id is derived from the alert's sender and identifier (and the tenant), so the
    same alert delivered again, at any site, is the same row: one campaign, not one per
    delivery."""

    __tablename__ = "safety_check_campaign_alerts"
    __table_args__ = (
        Index("ix_safety_check_campaign_alerts_campaign", "tenant_id", "campaign_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), nullable=False
    )
    #: opened | series | update | cancel (AlertRole)
    role: Mapped[str] = mapped_column(String(10), nullable=False)
    sender: Mapped[str] = mapped_column(String(255), nullable=False)
    identifier: Mapped[str] = mapped_column(String(255), nullable=False)
    sent: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    msg_type: Mapped[str] = mapped_column(String(10), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    max_intensity: Mapped[str] = mapped_column(String(2), nullable=False, default="")
    area_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    areas: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_site: Mapped[str] = mapped_column(String(63), nullable=False, default="")
    #: what staff are told, Japanese then English
    notice: Mapped[str] = mapped_column(Text, nullable=False)


class AlertRules(TenantScoped, Base):
    """Which alerts open a campaign for this municipality (one row, edited by its admin;
    no row: the defaults of `safety_check.campaigns.rules`)."""

    __tablename__ = "safety_check_alert_rules"

    tenant_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    quake_area_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    min_intensity: Mapped[str] = mapped_column(String(2), nullable=False, default="5-")
    tsunami_area_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    tsunami_advisories: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    eruption_area_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    hold_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    series_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=6)
    drills_from_exercises: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(100), nullable=False)


#: who released a campaign whose false-alarm hold ran out (no person did)
HOLD = "hold"


def state_of(campaign: Campaign, at: datetime | None = None) -> CampaignState:
    """The state as of ``at``: a pending campaign whose hold has ended is open, whether or
    not the release job has recorded it yet (a reader, even at a replica, sees the truth)."""
    state = CampaignState(campaign.state)
    if (
        state is CampaignState.PENDING
        and campaign.hold_until is not None
        and campaign.hold_until <= (at or datetime.now(UTC))
    ):
        return CampaignState.OPEN
    return state
