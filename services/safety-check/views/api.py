"""HTTP routes of the staff views (the console draws them). Thin: the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from safety_check.access import Directory, StaffReader
from safety_check.campaigns.api import CampaignId
from safety_check.views import service
from safety_check.views.schemas import CampaignCounts, UnconfirmedOut
from yui.http.deps import UoW
from yui.text import LineText

router = APIRouter(tags=["safety confirmation"])


@router.get(
    "/safety/campaigns/{campaign_id}/districts",
    response_model=CampaignCounts,
    summary="町字ごとの安否の件数 / counts by status per district",
)
def districts(
    campaign_id: CampaignId, uow: UoW, principal: StaffReader, directory: Directory
) -> CampaignCounts:
    return service.counts_by_district(uow, directory, campaign_id)


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
    cursor: Annotated[
        LineText, Query(max_length=36, description="前のページの next_cursor / from the last page")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> UnconfirmedOut:
    out = service.unconfirmed(
        uow, directory, campaign_id, actor=principal.username, cursor=cursor, limit=limit
    )
    uow.commit()
    return out
