"""Campaigns in and out."""

from __future__ import annotations

from pydantic import BaseModel, Field

from safety_check.campaigns.models import Campaign, CampaignKind
from yui.db.types import UtcDateTime
from yui.text import InputModel


class CampaignIn(InputModel):
    title: str = Field(min_length=1, max_length=100, description="例: 2026年12月 宮城県沖地震")
    kind: CampaignKind = Field(
        default=CampaignKind.LIVE, description="live 本番 / drill 訓練 (kept apart, purgeable)"
    )


class CampaignOut(BaseModel):
    id: str
    title: str
    kind: CampaignKind
    opened_at: UtcDateTime
    opened_by: str
    closed_at: UtcDateTime | None
    closed_by: str
    open: bool


def campaign_out(campaign: Campaign) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        title=campaign.title,
        kind=CampaignKind(campaign.kind),
        opened_at=campaign.opened_at,
        opened_by=campaign.opened_by,
        closed_at=campaign.closed_at,
        closed_by=campaign.closed_by,
        open=campaign.closed_at is None,
    )
