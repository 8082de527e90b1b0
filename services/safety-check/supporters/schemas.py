"""Supporters' lists, reports and progress, in and out (also the household's, whose
reports have the same shape)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from safety_check.reports.models import SafetyStatus
from safety_check.reports.schemas import NOTE_MAX_CHARS, UUID_PATTERN, FormStatus
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine


class SupporterProgress(BaseModel):
    supporter_id: str
    name: str
    role: str
    #: people on the supporter's list (the needs-assistance register's entries)
    assigned: int
    #: of them, with a report that confirms them (not information_sought, believed_missing)
    confirmed: int
    unconfirmed: int
    #: the personal link's token (staff only; the page is /safety/supporter-links/{token})
    token: str | None


class SupportersOut(BaseModel):
    campaign_id: str
    supporters: list[SupporterProgress]
    next_cursor: str | None


class AssignedPerson(BaseModel):
    resident_id: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    town_name: str
    address: str
    phone: str
    #: what the register says the person needs (wheelchair, medication, ...)
    needs: str
    priority: int
    status: SafetyStatus | None
    reported_at: UtcDateTime | None


class SupporterListOut(BaseModel):
    campaign_id: str
    title: str
    open: bool
    supporter: str
    people: list[AssignedPerson]


class SupporterReportIn(InputModel):
    """A report about one person of the list (a supporter's, or a household member's)."""

    id: str = Field(pattern=UUID_PATTERN, description="端末が作る報告ID（UUID） / the client's id")
    resident_id: str = Field(pattern=UUID_PATTERN)
    status: FormStatus
    reported_at: AwareDatetime
    location: str = Field(default="", max_length=200)
    shelter: str = Field(default="", max_length=100)
    note: Annotated[str, MultiLine()] = Field(default="", max_length=NOTE_MAX_CHARS)


class ReportAck(BaseModel):
    id: str
    resident_id: str
    status: SafetyStatus
    reported_at: UtcDateTime
    received_at: UtcDateTime


class HouseholdMember(BaseModel):
    resident_id: str
    family_name: str
    given_name: str
    status: SafetyStatus | None


class HouseholdOut(BaseModel):
    campaign_id: str
    members: list[HouseholdMember]
