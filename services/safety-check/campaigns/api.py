"""HTTP routes of campaigns. Thin: the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlalchemy.orm import Session

from safety_check.access import CampaignReader, RulesReader, RulesWriter, StaffWriter
from safety_check.campaigns import alerts, service
from safety_check.campaigns.models import Campaign
from safety_check.campaigns.schemas import (
    AlertRulesIn,
    AlertRulesOut,
    CampaignIn,
    CampaignOut,
    campaign_out,
    rules_out,
)
from yui.http.deps import UoW

router = APIRouter(tags=["safety confirmation"])


def _with_notices(session: Session, campaign: Campaign) -> CampaignOut:
    return campaign_out(campaign, service.notices_of(session, [campaign.id])[campaign.id])


UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CampaignId = Annotated[str, Path(pattern=UUID_PATTERN, description="安否確認ID / campaign id")]


@router.post(
    "/safety/campaigns",
    response_model=CampaignOut,
    status_code=status.HTTP_201_CREATED,
    summary="安否確認を開始（本番・訓練） / open a campaign (live or drill)",
)
def open_campaign(body: CampaignIn, uow: UoW, principal: StaffWriter) -> CampaignOut:
    campaign = service.open_campaign(uow.session, body, actor=principal.username)
    out = _with_notices(uow.session, campaign)  # read before the commit ends the transaction
    uow.commit()
    return out


@router.get(
    "/safety/campaigns",
    response_model=list[CampaignOut],
    summary="安否確認の一覧（新しい順） / campaigns, newest first",
)
def list_campaigns(uow: UoW, principal: CampaignReader) -> list[CampaignOut]:
    campaigns = service.listed(uow.session)
    notices = service.notices_of(uow.session, [campaign.id for campaign in campaigns])
    return [campaign_out(campaign, notices[campaign.id]) for campaign in campaigns]


@router.get(
    "/safety/campaigns/{campaign_id}", response_model=CampaignOut, summary="安否確認 / a campaign"
)
def read_campaign(campaign_id: CampaignId, uow: UoW, principal: CampaignReader) -> CampaignOut:
    return _with_notices(uow.session, service.get(uow.session, campaign_id))


@router.post(
    "/safety/campaigns/{campaign_id}/close",
    response_model=CampaignOut,
    summary="安否確認を終了 / close a campaign",
)
def close_campaign(campaign_id: CampaignId, uow: UoW, principal: StaffWriter) -> CampaignOut:
    campaign = service.close(uow.session, campaign_id, actor=principal.username)
    out = _with_notices(uow.session, campaign)  # read before the commit ends the transaction
    uow.commit()
    return out


@router.post(
    "/safety/campaigns/{campaign_id}/send-now",
    response_model=CampaignOut,
    summary="保留を終えて直ちに開く / end the hold and open now",
    responses={409: {"description": "保留中ではない / not held"}},
)
def send_now(campaign_id: CampaignId, uow: UoW, principal: StaffWriter) -> CampaignOut:
    campaign = service.send_now(uow.session, campaign_id, actor=principal.username)
    out = _with_notices(uow.session, campaign)  # read before the commit ends the transaction
    uow.commit()
    return out


@router.post(
    "/safety/campaigns/{campaign_id}/cancel",
    response_model=CampaignOut,
    summary="保留中の安否確認を取り消す（誤報） / cancel a held campaign (a false alarm)",
    responses={409: {"description": "保留中ではない / not held"}},
)
def cancel_campaign(campaign_id: CampaignId, uow: UoW, principal: StaffWriter) -> CampaignOut:
    campaign = service.cancel(uow.session, campaign_id, actor=principal.username)
    out = _with_notices(uow.session, campaign)  # read before the commit ends the transaction
    uow.commit()
    return out


@router.get(
    "/safety/alert-rules",
    response_model=AlertRulesOut,
    summary="警報で安否確認を開始する条件 / which alerts open a campaign",
)
def read_rules(uow: UoW, principal: RulesReader) -> AlertRulesOut:
    return rules_out(alerts.rules_of(uow.session, uow.tenant or ""))


@router.put(
    "/safety/alert-rules",
    response_model=AlertRulesOut,
    summary="警報で安否確認を開始する条件を設定（管理者） / set which alerts open a campaign "
    "(admin)",
)
def write_rules(body: AlertRulesIn, uow: UoW, principal: RulesWriter) -> AlertRulesOut:
    rules = alerts.save_rules(uow.session, uow.tenant or "", body, actor=principal.username)
    uow.commit()
    return rules_out(rules)


@router.delete(
    "/safety/campaigns/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="訓練の安否確認を報告ごと削除 / purge a drill campaign and its reports",
)
def purge_drill(campaign_id: CampaignId, uow: UoW, principal: StaffWriter) -> Response:
    service.purge_drill(uow.session, campaign_id, actor=principal.username)
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
