"""Safety reports: what someone learned about one resident, at a time they state.

Reports are immutable citizen facts: the id is the client's (a UUID), so a report sent
twice is stored once. A resident's current status in a campaign is the report with the
latest report time (then the larger id), whatever order they arrived in; every report
is kept as the history.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class SafetyStatus(StrEnum):
    # PFIF 1.4 note status values
    INFORMATION_SOUGHT = "information_sought"
    IS_NOTE_AUTHOR = "is_note_author"
    BELIEVED_ALIVE = "believed_alive"
    BELIEVED_MISSING = "believed_missing"
    BELIEVED_DEAD = "believed_dead"
    # local values (what a one-tap message offers)
    SAFE = "safe"  # 無事
    INJURED = "injured"  # けが
    NEEDS_HELP = "needs_help"  # 救助・支援が必要
    AT_SHELTER = "at_shelter"  # 避難所にいる


class ReporterKind(StrEnum):
    STAFF_CALL = "staff_call"  # 職員の電話確認
    DOOR_TO_DOOR = "door_to_door"  # 戸別訪問
    SUPPORTER = "supporter"  # 避難支援等関係者
    FAMILY = "family"  # 家族
    RESIDENT = "resident"  # 本人
    SHELTER_CHECK_IN = "shelter_check_in"  # 避難所の受付（物資供給の入所記録）


class ReportSource(StrEnum):
    """How a report reached us, i.e. how far it is verified."""

    STAFF = "staff"  # a signed-in account (staff, shelter): the API
    ONE_TAP = "one_tap"  # the resident's signed one-tap link (verified for that resident)
    HOUSEHOLD = "household"  # a verified resident for another member of their household
    SUPPORTER_LINK = "supporter_link"  # a supporter's signed personal link
    OPEN_FORM = "open_form"  # the public form, matched and confirmed by staff
    SHELTER_CHECK_IN = "shelter_check_in"  # a check-in at a shelter (relief supplies' event)


class Report(TenantScoped, Base):
    __tablename__ = "safety_check_reports"
    __table_args__ = (
        # a resident's history in report-time order, and the latest one, as an index range
        Index(
            "ix_safety_check_reports_resident",
            "tenant_id",
            "campaign_id",
            "resident_id",
            "reported_at",
        ),
        Index("ix_safety_check_reports_district", "tenant_id", "campaign_id", "town_name"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    #: the client's id (UUID): the same id is applied once
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), nullable=False
    )
    #: a resident of the registry (read through the kernel's ResidentDirectory port)
    resident_id: Mapped[str] = mapped_column(String(36), nullable=False)
    #: 町字 of the resident when the report was recorded, for the counts per district
    town_name: Mapped[str] = mapped_column(String(80), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    #: when the reporter learned it (the client's clock): decides which report is current
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: when this site recorded it
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reporter_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    location: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    shelter: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    #: how the report reached us (ReportSource)
    source: Mapped[str] = mapped_column(
        String(20), nullable=False, default=ReportSource.STAFF.value
    )


class CurrentStatus(TenantScoped, Base):
    """A resident's current status in a campaign: the report with the latest report time
    (then the larger id), kept in the unit of work of each report so that the staff views
    read one row per resident instead of every report. `Report` keeps the history."""

    __tablename__ = "safety_check_current"
    __table_args__ = (
        Index(
            "ix_safety_check_current_district",
            "tenant_id",
            "campaign_id",
            "town_name",
            "status",
        ),
        Index("ix_safety_check_current_disagreeing", "tenant_id", "campaign_id", "disagreeing"),
        # the statuses of a page of residents (resident_id IN ...): without it SQLite reads
        # them through the other indexes' (tenant_id, campaign_id) prefix, a scan of the
        # campaign (2 s a page at 1,000,000 residents) instead of the primary key's lookups
        Index("ix_safety_check_current_resident", "tenant_id", "campaign_id", "resident_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), primary_key=True
    )
    resident_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    town_name: Mapped[str] = mapped_column(String(80), nullable=False)
    reporter_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    #: how many reports the resident has in the campaign
    reports: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    #: two reports from different reporters close in time say different things
    disagreeing: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class StatusCount(TenantScoped, Base):
    """How many residents of a 町字 have each current status in a campaign: the staff
    counts read these few rows (a 1,000,000-resident campaign has towns x statuses)."""

    __tablename__ = "safety_check_counts"

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), primary_key=True
    )
    town_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    residents: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class StatusChange(TenantScoped, Base):
    """The net change, in one minute of report time, of how many residents of a 町字 have a
    status: the counts at any time are the sum of the changes up to it (the curves)."""

    __tablename__ = "safety_check_changes"
    __table_args__ = (
        # one 町字's curve reads its own rows in minute order
        Index("ix_safety_check_changes_town", "tenant_id", "campaign_id", "town_name", "minute"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), primary_key=True
    )
    #: the minute of report time, as whole minutes since 1970-01-01 UTC
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    town_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    delta: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class MinuteChange(TenantScoped, Base):
    """`StatusChange` summed over the 町字: the net change, in one minute of report time,
    of how many residents have a status. Kept with each report like the others, so the
    whole campaign's curve reads minutes x statuses rows (a few thousand) instead of
    minutes x 町字 x statuses (500,000 at 1,000,000 residents). Net changes, not running
    totals: a late report then changes a few rows, not every later minute's."""

    __tablename__ = "safety_check_minute_changes"

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), primary_key=True
    )
    #: the minute of report time, as whole minutes since 1970-01-01 UTC
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    delta: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ReviewState(StrEnum):
    PENDING = "pending"  # waiting for staff
    CONFIRMED = "confirmed"  # staff matched it to a resident: a report was recorded
    REJECTED = "rejected"  # staff judged it unusable (nobody, a prank, a duplicate)


class Submission(TenantScoped, Base):
    """A report from the open mobile form: unverified, about a person described by name,
    kana, birth date and 町字. Matched to residents when received (the candidates are
    kept for staff); it becomes a `Report` only when staff confirm a resident."""

    __tablename__ = "safety_check_submissions"
    __table_args__ = (
        Index(
            "ix_safety_check_submissions_queue",
            "tenant_id",
            "campaign_id",
            "review",
            "received_at",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    #: the client's id (UUID): a resend is stored once
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), nullable=False
    )
    family_name: Mapped[str] = mapped_column(String(50), nullable=False)
    given_name: Mapped[str] = mapped_column(String(50), nullable=False)
    family_kana: Mapped[str] = mapped_column(String(50), nullable=False)
    given_kana: Mapped[str] = mapped_column(String(50), nullable=False)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    town_name: Mapped[str] = mapped_column(String(80), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reporter_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    reporter_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    reporter_contact: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    location: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    shelter: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: "exact" (one resident matches all four), "partial", "none"
    match: Mapped[str] = mapped_column(String(10), nullable=False)
    #: the registry's candidates when received, best first: facts and score (staff only)
    candidates: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    review: Mapped[str] = mapped_column(String(10), nullable=False, default=ReviewState.PENDING)
    resident_id: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    report_id: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    reviewed_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DisagreementResolution(TenantScoped, Base):
    """Staff settling a disagreement: who, when, the status they kept (recorded as their
    own report, `report_id`) and a note. The resident leaves the open list
    (`CurrentStatus.disagreeing` is cleared); from then on only the reports received since
    the latest resolution, with the resolving report, can disagree again. A resident may be
    resolved more than once: every resolution is kept."""

    __tablename__ = "safety_check_resolutions"
    __table_args__ = (
        # a resident's latest resolution, and a page of resolved residents' resolutions
        Index(
            "ix_safety_check_resolutions_resident",
            "tenant_id",
            "campaign_id",
            "resident_id",
            "resolved_at",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    #: the client's id (UUID): a resend is stored once; also the resolving report's id
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("safety_check_campaigns.id"), nullable=False
    )
    resident_id: Mapped[str] = mapped_column(String(36), nullable=False)
    #: the status staff kept: their report's
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    #: how staff found out (staff_call, door_to_door)
    reporter_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    #: the staff report that records the kept status
    report_id: Mapped[str] = mapped_column(String(36), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    resolved_by: Mapped[str] = mapped_column(String(100), nullable=False)
    #: this site's time, the resolving report's received_at: reports received from then on
    #: are the ones that can disagree again
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
