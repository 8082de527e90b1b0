"""HTTP routes of reports. Thin: the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from safety_check.access import Directory, Reporter, StaffReader, audience_of, may_record_death
from safety_check.campaigns.api import CampaignId
from safety_check.reports import service
from safety_check.reports.schemas import (
    UUID_PATTERN,
    ReportIn,
    ReportOut,
    ResidentStatusOut,
    report_out,
)
from yui.http.deps import UoW

router = APIRouter(tags=["safety confirmation"])

ResidentId = Annotated[str, Path(pattern=UUID_PATTERN, description="住民ID / resident id")]


@router.post(
    "/safety/campaigns/{campaign_id}/reports",
    response_model=ReportOut,
    status_code=status.HTTP_201_CREATED,
    summary="安否の報告を記録（同じIDの再送は最初の結果） / record a report (a resend returns "
    "the first result)",
    responses={
        200: {
            "model": ReportOut,
            "description": "この報告IDは記録済み（最初の結果） / already recorded: the first result",
        }
    },
)
def record_report(
    campaign_id: CampaignId,
    body: ReportIn,
    uow: UoW,
    principal: Reporter,
    directory: Directory,
    response: Response,
) -> ReportOut:
    recorded = service.record(
        uow,
        directory,
        campaign_id,
        body,
        actor=principal.username,
        audience=audience_of(principal),
        may_record_death=may_record_death(principal),
    )
    uow.commit()
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return report_out(recorded.report)


@router.get(
    "/safety/campaigns/{campaign_id}/residents/{resident_id}",
    response_model=ResidentStatusOut,
    summary="住民の現在の安否と報告履歴（監査記録あり） / a resident's status and history "
    "(audited)",
)
def resident_status(
    campaign_id: CampaignId, resident_id: ResidentId, uow: UoW, principal: StaffReader
) -> ResidentStatusOut:
    reports = service.resident_status(
        uow.session, campaign_id, resident_id, actor=principal.username
    )
    uow.commit()
    history = [report_out(report) for report in reports]
    return ResidentStatusOut(
        resident_id=resident_id, current=history[0] if history else None, history=history
    )
