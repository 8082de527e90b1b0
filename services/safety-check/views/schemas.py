"""What the staff views answer."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from safety_check.reports.models import SafetyStatus


class DistrictCounts(BaseModel):
    #: 町字
    town_name: str
    #: registered residents of the district now
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
    #: needs-assistance residents first (the register's priority order), on the first page
    needs_assistance: list[UnconfirmedResident]
    #: then everyone else, a page at a time
    residents: list[UnconfirmedResident]
    #: give it as `cursor` for the next page; None after the last one
    next_cursor: str | None
