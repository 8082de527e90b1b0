"""Family reports: a resident verified by their one-tap link reports for the other members
of their household (the registry's 世帯), e.g. a parent for a child without a phone.

The household is read as non-staff: a member under a DV-support block is neither listed
nor reported through another member's link. The link's holder sees the members' names
and current status only (never an address or a phone)."""

from __future__ import annotations

from safety_check.campaigns import service as campaigns
from safety_check.links import signing
from safety_check.links.service import actor_of
from safety_check.reports import service as reports
from safety_check.reports.models import ReporterKind, ReportSource, SafetyStatus
from safety_check.reports.schemas import ReportIn
from safety_check.supporters.schemas import HouseholdMember, HouseholdOut, SupporterReportIn
from safety_check.views.service import statuses_of
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import NotFound
from yui.service_ports import Audience, ResidentDirectory, ResidentFacts


def _others(directory: ResidentDirectory, claims: signing.LinkClaims) -> list[ResidentFacts]:
    members = directory.household(
        claims.tenant, claims.resident_id, audience=Audience.NON_STAFF, actor=actor_of(claims)
    )
    return [member for member in members if member.resident_id != claims.resident_id]


def members(
    uow: UnitOfWork, directory: ResidentDirectory, claims: signing.LinkClaims
) -> HouseholdOut:
    others = _others(directory, claims)
    campaign = campaigns.get(uow.session, claims.campaign_id)
    ids = [member.resident_id for member in others]
    statuses = statuses_of(uow.session, campaign.id, ids)
    audit.record(
        uow.session,
        actor=actor_of(claims),
        action="safety.household_list",
        subject_type="resident",
        subject_id=claims.resident_id,
        detail={"campaign": campaign.id, "results": ids},
    )
    return HouseholdOut(
        campaign_id=campaign.id,
        members=[
            HouseholdMember(
                resident_id=member.resident_id,
                family_name=member.family_name,
                given_name=member.given_name,
                status=statuses.get(member.resident_id),
            )
            for member in others
        ],
    )


def record_for(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    claims: signing.LinkClaims,
    body: SupporterReportIn,
) -> reports.Recorded:
    member = next(
        (m for m in _others(directory, claims) if m.resident_id == body.resident_id), None
    )
    if member is None:
        raise NotFound("この方は同じ世帯にいません / this person is not of your household")
    report = ReportIn(
        id=body.id,
        resident_id=body.resident_id,
        status=SafetyStatus(body.status.value),
        reported_at=body.reported_at,
        reporter_kind=ReporterKind.FAMILY,
        location=body.location,
        shelter=body.shelter,
        note=body.note,
    )
    return reports.record(
        uow,
        directory,
        claims.campaign_id,
        report,
        actor=actor_of(claims),
        audience=Audience.NON_STAFF,
        may_record_death=False,
        source=ReportSource.HOUSEHOLD,
        resident=member,
    )
