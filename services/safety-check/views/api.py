"""HTTP routes of the staff views (the console draws them). Thin: the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from safety_check.access import Directory, StaffReader, StaffWriter
from safety_check.campaigns.api import CampaignId
from safety_check.reports import resolutions
from safety_check.reports.api import ResidentId
from safety_check.reports.schemas import ResolutionIn, ResolutionOut
from safety_check.views import printing, service
from safety_check.views.schemas import (
    CampaignCounts,
    DisagreementsOut,
    DisagreementState,
    ResponseRateOut,
    TimelineOut,
    UnconfirmedOut,
    VisitListOut,
)
from yui.db.unit_of_work import UnitOfWork
from yui.http.deps import UoW
from yui.service_ports import ResidentDirectory
from yui.text import LineText

router = APIRouter(tags=["safety confirmation"])

Cursor = Annotated[
    LineText, Query(max_length=40, description="前のページの next_cursor / from the last page")
]
Limit = Annotated[int, Query(ge=1, le=500)]
Town = Annotated[LineText, Query(max_length=80, description="町字で絞る / one district only")]
Interval = Annotated[
    int,
    Query(
        ge=60,
        le=86400,
        description="刻み（秒、60 の倍数） / the step in seconds, a multiple of 60",
    ),
]


@router.get(
    "/safety/campaigns/{campaign_id}/districts",
    response_model=CampaignCounts,
    summary="町字ごとの安否の件数 / counts by status per district",
)
def districts(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    town: Town = "",
) -> CampaignCounts:
    return service.counts_by_district(uow, directory, campaign_id, town=town)


@router.get(
    "/safety/campaigns/{campaign_id}/timeline",
    response_model=TimelineOut,
    summary="安否の件数の推移（報告時刻で） / counts by status over (report) time",
)
def timeline(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    interval: Interval = 600,
    town: Town = "",
) -> TimelineOut:
    return service.timeline(uow, campaign_id, interval=interval, town=town)


@router.get(
    "/safety/campaigns/{campaign_id}/response-rate",
    response_model=ResponseRateOut,
    summary="回答率の推移 / the response-rate curve",
)
def response_rate(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    interval: Interval = 600,
    town: Town = "",
) -> ResponseRateOut:
    return service.response_rate(uow, directory, campaign_id, interval=interval, town=town)


@router.get(
    "/safety/campaigns/{campaign_id}/unconfirmed",
    response_model=UnconfirmedOut,
    summary="未確認者の一覧（要支援者が先、監査記録あり） / the unconfirmed, needs-assistance "
    "first (audited)",
)
def unconfirmed(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    cursor: Cursor = "",
    limit: Limit = 100,
) -> UnconfirmedOut:
    out = service.unconfirmed(
        uow, directory, campaign_id, actor=principal.username, cursor=cursor, limit=limit
    )
    uow.commit()
    return out


VisitTown = Annotated[
    LineText, Query(min_length=1, max_length=80, description="町字 / the district")
]


@router.get(
    "/safety/campaigns/{campaign_id}/visits",
    response_model=VisitListOut,
    summary="戸別訪問リスト（町字ごと、要支援者が先、監査記録あり） / a door-to-door visit list "
    "per district (audited)",
)
def visits(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    town: VisitTown,
    cursor: Cursor = "",
    limit: Limit = 200,
) -> VisitListOut:
    out = service.visits(
        uow,
        directory,
        campaign_id,
        town=town,
        actor=principal.username,
        cursor=cursor,
        limit=limit,
    )
    uow.commit()
    return out


#: the visit list's printable forms: how each is rendered and its media type
VISIT_FILES = {
    "csv": (printing.visits_csv, "text/csv; charset=utf-8"),
    "html": (printing.visits_html, "text/html; charset=utf-8"),
}


def _visit_file(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    actor: str,
    town: str,
    cursor: str,
    limit: int,
    kind: str,
) -> Response:
    out = service.visits(
        uow, directory, campaign_id, town=town, actor=actor, cursor=cursor, limit=limit
    )
    uow.commit()
    render, media_type = VISIT_FILES[kind]
    return Response(render(out), media_type=media_type, headers=printing.page_headers(out, kind))


@router.get(
    "/safety/campaigns/{campaign_id}/visits.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="戸別訪問リスト（CSV、UTF-8 BOM 付き） / the visit list as CSV",
)
def visits_csv(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    town: VisitTown,
    cursor: Cursor = "",
    limit: Limit = 500,
) -> Response:
    return _visit_file(uow, directory, campaign_id, principal.username, town, cursor, limit, "csv")


@router.get(
    "/safety/campaigns/{campaign_id}/visits.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
    summary="戸別訪問リスト（印刷用 HTML） / the visit list, print-ready HTML",
)
def visits_html(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    town: VisitTown,
    cursor: Cursor = "",
    limit: Limit = 500,
) -> Response:
    return _visit_file(uow, directory, campaign_id, principal.username, town, cursor, limit, "html")


@router.get(
    "/safety/campaigns/{campaign_id}/disagreements",
    response_model=DisagreementsOut,
    summary="報告の食い違う住民（監査記録あり） / residents whose reports disagree (audited)",
)
def disagreements(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    directory: Directory,
    town: Town = "",
    cursor: Cursor = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    state: Annotated[
        DisagreementState,
        Query(description="open（既定: 未解決） / resolved（職員が解決済み）"),
    ] = DisagreementState.OPEN,
) -> DisagreementsOut:
    out = service.disagreements(
        uow,
        directory,
        campaign_id,
        actor=principal.username,
        town=town,
        cursor=cursor,
        limit=limit,
        state=state,
    )
    uow.commit()
    return out


@router.post(
    "/safety/campaigns/{campaign_id}/disagreements/{resident_id}/resolve",
    response_model=ResolutionOut,
    status_code=status.HTTP_201_CREATED,
    summary="報告の食い違いを職員が解決（確かめた安否を職員の報告として記録、監査記録あり） / "
    "resolve a disagreement with what staff found out (audited)",
    responses={
        200: {
            "model": ResolutionOut,
            "description": "この解決IDは記録済み（最初の結果） / already recorded: the first result",
        }
    },
)
def resolve_disagreement(
    campaign_id: CampaignId,
    resident_id: ResidentId,
    body: ResolutionIn,
    uow: UoW,
    principal: StaffWriter,
    directory: Directory,
    response: Response,
) -> ResolutionOut:
    resolved = resolutions.resolve(
        uow, directory, campaign_id, resident_id, body, actor=principal.username
    )
    uow.commit()
    if not resolved.created:
        response.status_code = status.HTTP_200_OK
    return resolutions.resolution_out(resolved.resolution)
