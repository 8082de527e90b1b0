"""Reports in and out."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from safety_check.reports.models import (
    Report,
    ReporterKind,
    ReportSource,
    ReviewState,
    SafetyStatus,
    Submission,
)
from yui.db.types import UtcDateTime
from yui.text import CalendarDate, InputModel, MultiLine

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: the longest free note a report may carry (a phone's one-tap page allows the same)
NOTE_MAX_CHARS = 2000


class ReportIn(InputModel):
    id: str = Field(
        pattern=UUID_PATTERN,
        description="端末が作る報告ID（UUID、小文字）: 再送しても一度だけ記録 / the client's id",
    )
    resident_id: str = Field(pattern=UUID_PATTERN, description="住民ID / the registry's id")
    status: SafetyStatus
    reported_at: AwareDatetime = Field(
        description="報告者が状況を知った時刻（タイムゾーン付き） / when the reporter learned it"
    )
    reporter_kind: ReporterKind
    location: str = Field(default="", max_length=200, description="いる場所 / where the person is")
    shelter: str = Field(default="", max_length=100, description="避難所名 / shelter")
    note: Annotated[str, MultiLine()] = Field(default="", max_length=NOTE_MAX_CHARS)


class ReportOut(BaseModel):
    id: str
    campaign_id: str
    resident_id: str
    town_name: str
    status: SafetyStatus
    reported_at: UtcDateTime
    received_at: UtcDateTime
    reporter_kind: ReporterKind
    location: str
    shelter: str
    note: str
    recorded_by: str
    #: how it reached us: staff, one_tap, household, supporter_link, open_form,
    #: shelter_check_in
    source: ReportSource


class ResidentStatusOut(BaseModel):
    """A resident in a campaign: the current report (latest report time) and the history."""

    resident_id: str
    current: ReportOut | None
    history: list[ReportOut]


def report_out(report: Report) -> ReportOut:
    return ReportOut(
        id=report.id,
        campaign_id=report.campaign_id,
        resident_id=report.resident_id,
        town_name=report.town_name,
        status=SafetyStatus(report.status),
        reported_at=report.reported_at,
        received_at=report.received_at,
        reporter_kind=ReporterKind(report.reporter_kind),
        location=report.location,
        shelter=report.shelter,
        note=report.note,
        recorded_by=report.recorded_by,
        source=ReportSource(report.source),
    )


class FormStatus(StrEnum):
    """What the open form offers (believed_dead is staff's to record)."""

    SAFE = "safe"
    INJURED = "injured"
    NEEDS_HELP = "needs_help"
    AT_SHELTER = "at_shelter"
    BELIEVED_ALIVE = "believed_alive"
    BELIEVED_MISSING = "believed_missing"
    INFORMATION_SOUGHT = "information_sought"


class FormReporter(StrEnum):
    RESIDENT = "resident"  # 本人
    FAMILY = "family"  # 家族
    SUPPORTER = "supporter"  # 近所の人・支援者


class FormIn(InputModel):
    """A report from the open mobile form about a person (unverified)."""

    id: str = Field(pattern=UUID_PATTERN, description="端末が作るID（UUID） / the client's id")
    family_name: str = Field(default="", max_length=50, description="氏 / family name")
    given_name: str = Field(default="", max_length=50, description="名 / given name")
    family_kana: str = Field(default="", max_length=50, description="氏（かな） / in kana")
    given_kana: str = Field(default="", max_length=50, description="名（かな） / in kana")
    birth_date: CalendarDate | None = Field(default=None, description="生年月日 / YYYY-MM-DD")
    town_name: str = Field(default="", max_length=80, description="町字 / district")
    status: FormStatus
    reported_at: AwareDatetime
    reporter_kind: FormReporter
    reporter_name: str = Field(default="", max_length=100)
    reporter_contact: str = Field(default="", max_length=254, description="電話かメール")
    location: str = Field(default="", max_length=200)
    shelter: str = Field(default="", max_length=100)
    note: Annotated[str, MultiLine()] = Field(default="", max_length=NOTE_MAX_CHARS)

    @model_validator(mode="after")
    def _describes_someone(self) -> FormIn:
        has_kana = bool(self.family_kana.strip() and self.given_kana.strip())
        has_name = bool(self.family_name.strip() and self.given_name.strip())
        if not (has_kana or has_name):
            raise ValueError(
                "氏名（漢字かかな）を入れてください / give the person's full name (kanji or kana)"
            )
        if self.birth_date is None and not self.town_name.strip():
            raise ValueError("生年月日か町字を入れてください / give the birth date or the district")
        return self


class OpenCampaignOut(BaseModel):
    """A campaign taking reports, as the public sees it: what it is called, nothing more."""

    id: str
    title: str
    opened_at: UtcDateTime


class OpenCampaignsOut(BaseModel):
    municipality: str
    campaigns: list[OpenCampaignOut]


class FormAck(BaseModel):
    """The sender's answer: the same whether or not anyone matched."""

    id: str
    received_at: UtcDateTime


class SubmissionOut(BaseModel):
    id: str
    campaign_id: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date | None
    town_name: str
    status: SafetyStatus
    reported_at: UtcDateTime
    received_at: UtcDateTime
    reporter_kind: ReporterKind
    reporter_name: str
    reporter_contact: str
    location: str
    shelter: str
    note: str
    #: exact: one resident matches everything given; partial; none
    match: str
    #: the registry's candidates when it arrived, best first (dv_block flagged for staff)
    candidates: list[dict[str, Any]]
    review: ReviewState
    resident_id: str
    report_id: str
    reviewed_by: str
    reviewed_at: UtcDateTime | None


class ReviewQueueOut(BaseModel):
    campaign_id: str
    submissions: list[SubmissionOut]
    next_cursor: str | None


class ConfirmIn(InputModel):
    resident_id: str = Field(pattern=UUID_PATTERN, description="この報告の住民 / who it is about")


def submission_out(row: Submission) -> SubmissionOut:
    return SubmissionOut(
        id=row.id,
        campaign_id=row.campaign_id,
        family_name=row.family_name,
        given_name=row.given_name,
        family_kana=row.family_kana,
        given_kana=row.given_kana,
        birth_date=row.birth_date,
        town_name=row.town_name,
        status=SafetyStatus(row.status),
        reported_at=row.reported_at,
        received_at=row.received_at,
        reporter_kind=ReporterKind(row.reporter_kind),
        reporter_name=row.reporter_name,
        reporter_contact=row.reporter_contact,
        location=row.location,
        shelter=row.shelter,
        note=row.note,
        match=row.match,
        candidates=list(row.candidates),
        review=ReviewState(row.review),
        resident_id=row.resident_id,
        report_id=row.report_id,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
    )


class StaffFinding(StrEnum):
    """How staff found out what settles a disagreement."""

    STAFF_CALL = "staff_call"
    DOOR_TO_DOOR = "door_to_door"


class ResolutionIn(InputModel):
    id: str = Field(
        pattern=UUID_PATTERN,
        description="端末が作る解決ID（UUID、小文字。職員の報告の ID にもなる）: 再送しても一度だけ "
        "/ the client's id, also the id of the staff report it records",
    )
    status: SafetyStatus = Field(description="職員が確かめた安否 / the status staff kept")
    reporter_kind: StaffFinding
    note: Annotated[str, MultiLine()] = Field(default="", max_length=NOTE_MAX_CHARS)


class ResolutionOut(BaseModel):
    id: str
    campaign_id: str
    resident_id: str
    status: SafetyStatus
    reporter_kind: StaffFinding
    #: the staff report that records the kept status (the resident's latest report)
    report_id: str
    note: str
    resolved_by: str
    resolved_at: UtcDateTime
