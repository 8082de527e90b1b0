"""Reports in and out."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from safety_check.reports.models import Report, ReporterKind, SafetyStatus
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine

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
    )
