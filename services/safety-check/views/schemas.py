"""What the staff views answer."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel

from safety_check.reports.models import SafetyStatus
from safety_check.reports.schemas import ReportOut, ResolutionOut
from yui.db.types import UtcDateTime


class DistrictCounts(BaseModel):
    #: 町字
    town_name: str
    #: registered residents of the district (the registry's count, at most 30 s old)
    residents: int
    #: current statuses (each resident counted once, by the latest report time)
    counts: dict[SafetyStatus, int]
    #: residents with no report, or whose latest says only information_sought or
    #: believed_missing
    unconfirmed: int


class CampaignCounts(BaseModel):
    campaign_id: str
    districts: list[DistrictCounts]
    total: DistrictCounts


class TimelinePoint(BaseModel):
    #: the counts as of this time (every report of an earlier minute of report time)
    at: UtcDateTime
    counts: dict[SafetyStatus, int]


class TimelineOut(BaseModel):
    campaign_id: str
    #: "" for the whole municipality
    town_name: str
    interval_seconds: int
    points: list[TimelinePoint]


class RatePoint(BaseModel):
    at: UtcDateTime
    #: residents with a report by then
    reported: int
    #: residents whose report by then confirms them (not information_sought, believed_missing)
    confirmed: int
    reported_rate: float
    confirmed_rate: float


class ResponseRateOut(BaseModel):
    campaign_id: str
    town_name: str
    #: the registry's residents (of the district), the rates' denominator
    residents: int
    interval_seconds: int
    points: list[RatePoint]


class UnconfirmedResident(BaseModel):
    resident_id: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    town_name: str
    needs_assistance: bool
    #: the register's priority (1: reach first); None outside the register
    priority: int | None
    #: the register's address and phone, for a visit or a call ("" outside the register)
    address: str
    phone: str
    #: under a DV-support block: staff see the person, flagged, and disclose nothing of
    #: them to anyone who asks
    dv_block: bool
    #: the latest report when there is one (information_sought, believed_missing)
    status: SafetyStatus | None


class UnconfirmedOut(BaseModel):
    campaign_id: str
    #: needs-assistance residents first (the register's priority order), a page at a time
    needs_assistance: list[UnconfirmedResident]
    #: then everyone else; the two together are at most `limit` a page
    residents: list[UnconfirmedResident]
    #: give it as `cursor` for the next page; None after the last one
    next_cursor: str | None


class VisitEntry(BaseModel):
    resident_id: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    town_name: str
    address: str
    phone: str
    needs_assistance: bool
    priority: int | None
    #: staff visit the person and tell no one where they are
    dv_block: bool
    status: SafetyStatus | None


class VisitListOut(BaseModel):
    campaign_id: str
    campaign_title: str
    town_name: str
    needs_assistance: list[VisitEntry]
    residents: list[VisitEntry]
    next_cursor: str | None


class DisagreementOut(BaseModel):
    resident_id: str
    family_name: str
    given_name: str
    town_name: str
    needs_assistance: bool
    registered: bool
    dv_block: bool
    #: every report of the campaign, latest report time first
    reports: list[ReportOut]
    #: staff's latest resolution: on the resolved list, what settled it; on the open list,
    #: the one a later report disagreed with (None when never resolved)
    resolution: ResolutionOut | None = None


class DisagreementState(StrEnum):
    #: reports disagree and no staff resolution has settled them since
    OPEN = "open"
    #: staff resolved it, and no report has disagreed with what they kept
    RESOLVED = "resolved"


class DisagreementsOut(BaseModel):
    campaign_id: str
    state: DisagreementState
    residents: list[DisagreementOut]
    next_cursor: str | None
