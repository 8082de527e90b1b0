"""HTTP routes of supporters (staff's progress; a supporter's list and reports through their
link) and of family reports through a resident's one-tap link. Thin: the services decide."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from safety_check.access import Directory, StaffReader
from safety_check.campaigns.api import CampaignId
from safety_check.links.api import Counted, Token, claims_of
from safety_check.reports import household
from safety_check.reports.models import Report
from safety_check.supporters import service
from safety_check.supporters.schemas import (
    HouseholdOut,
    ReportAck,
    SupporterListOut,
    SupporterReportIn,
    SupportersOut,
)
from yui.auth.models import Role
from yui.http.deps import Context, Tenant, UoW
from yui.text import LineText

router = APIRouter(tags=["safety confirmation"])


def _ack(report: Report) -> ReportAck:
    return ReportAck(
        id=report.id,
        resident_id=report.resident_id,
        status=report.status,
        reported_at=report.reported_at,
        received_at=report.received_at,
    )


@router.get(
    "/safety/campaigns/{campaign_id}/supporters",
    response_model=SupportersOut,
    summary="支援者ごとの進捗（職員には各支援者のリンク） / per-supporter progress (staff get "
    "each supporter's link)",
)
def supporters(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    context: Context,
    cursor: Annotated[LineText, Query(max_length=36)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SupportersOut:
    # a link is a credential: staff send them, the auditor sees the progress only
    keys = context.token_keys if principal.has_any(Role.STAFF) else None
    out = service.progress(
        uow,
        directory,
        campaign_id,
        actor=principal.username,
        keys=keys,
        cursor=cursor,
        limit=limit,
    )
    uow.commit()
    return out


@router.get(
    "/safety/supporter-links/{token}",
    response_model=SupporterListOut,
    summary="支援者の担当一覧（支援者のリンク） / the people a supporter checks on",
    dependencies=[Counted],
)
def supporter_list(
    token: Token, tenant: Tenant, context: Context, uow: UoW, directory: Directory
) -> SupporterListOut:
    claims = claims_of(token, tenant, context)
    out = service.people_of(uow, directory, claims)
    uow.commit()
    return out


@router.post(
    "/safety/supporter-links/{token}/reports",
    response_model=ReportAck,
    status_code=status.HTTP_201_CREATED,
    summary="支援者が担当の人の安否を報告 / a supporter reports for one of their people",
    responses={200: {"model": ReportAck, "description": "記録済み / already recorded"}},
    dependencies=[Counted],
)
def supporter_report(
    token: Token,
    body: SupporterReportIn,
    tenant: Tenant,
    context: Context,
    uow: UoW,
    directory: Directory,
    response: Response,
) -> ReportAck:
    claims = claims_of(token, tenant, context)
    recorded = service.record_for(uow, directory, claims, body)
    uow.commit()
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return _ack(recorded.report)


@router.get(
    "/safety/links/{token}/household",
    response_model=HouseholdOut,
    summary="同じ世帯の人（氏名と安否だけ） / the link holder's household: names and status",
    dependencies=[Counted],
)
def household_members(
    token: Token, tenant: Tenant, context: Context, uow: UoW, directory: Directory
) -> HouseholdOut:
    claims = claims_of(token, tenant, context)
    out = household.members(uow, directory, claims)
    uow.commit()
    return out


@router.post(
    "/safety/links/{token}/household/reports",
    response_model=ReportAck,
    status_code=status.HTTP_201_CREATED,
    summary="同じ世帯の人の安否を報告（家族） / report for a member of the household",
    responses={200: {"model": ReportAck, "description": "記録済み / already recorded"}},
    dependencies=[Counted],
)
def household_report(
    token: Token,
    body: SupporterReportIn,
    tenant: Tenant,
    context: Context,
    uow: UoW,
    directory: Directory,
    response: Response,
) -> ReportAck:
    claims = claims_of(token, tenant, context)
    recorded = household.record_for(uow, directory, claims, body)
    uow.commit()
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return _ack(recorded.report)
