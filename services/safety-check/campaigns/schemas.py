"""Campaigns in and out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from safety_check.campaigns.models import (
    HOLD,
    Campaign,
    CampaignAlert,
    CampaignKind,
    CampaignOrigin,
    CampaignState,
    state_of,
)
from safety_check.campaigns.rules import Rules, intensity_code, intensity_name
from yui.db.types import UtcDateTime
from yui.text import InputModel


class CampaignIn(InputModel):
    title: str = Field(min_length=1, max_length=100, description="例: 2026年12月 宮城県沖地震")
    kind: CampaignKind = Field(
        default=CampaignKind.LIVE, description="live 本番 / drill 訓練 (kept apart, purgeable)"
    )


class NoticeOut(BaseModel):
    """An alert that opened the campaign or joined it, and what staff are told of it."""

    role: str = Field(description="opened 開始 | series 同一地域の続発 | update 更新 | cancel 取消")
    notice: str = Field(description="日本語 / English")
    alert_identifier: str
    alert_sender: str
    alert_sent: UtcDateTime
    alert_status: str
    alert_kind: str
    max_intensity: str
    areas: str
    received_at: UtcDateTime
    received_site: str


class CampaignOut(BaseModel):
    id: str
    title: str
    kind: CampaignKind
    opened_at: UtcDateTime
    opened_by: str
    closed_at: UtcDateTime | None
    closed_by: str
    open: bool = Field(description="報告を受け付ける（終了・取消でない） / takes reports")
    state: CampaignState = Field(
        description="pending 保留中 | open 送信可 | closed 終了 | cancelled 取消（誤報）"
    )
    origin: CampaignOrigin
    hazard: str
    hold_until: UtcDateTime | None = Field(description="誤報保留の終わり / end of the hold")
    released_at: UtcDateTime | None = Field(description="開いた時刻 / when it became open")
    released_by: str
    notices: list[NoticeOut] = Field(default_factory=list)


def notice_out(row: CampaignAlert) -> NoticeOut:
    return NoticeOut(
        role=row.role,
        notice=row.notice,
        alert_identifier=row.identifier,
        alert_sender=row.sender,
        alert_sent=row.sent,
        alert_status=row.status,
        alert_kind=row.kind,
        max_intensity=row.max_intensity,
        areas=row.areas,
        received_at=row.received_at,
        received_site=row.received_site,
    )


def campaign_out(
    campaign: Campaign, notices: Sequence[CampaignAlert] = (), at: datetime | None = None
) -> CampaignOut:
    state = state_of(campaign, at)
    released_at, released_by = campaign.released_at, campaign.released_by
    if released_at is None and state is CampaignState.OPEN and campaign.hold_until is not None:
        # the hold has ended; the release job has not recorded it yet
        released_at, released_by = campaign.hold_until, HOLD
    return CampaignOut(
        id=campaign.id,
        title=campaign.title,
        kind=CampaignKind(campaign.kind),
        opened_at=campaign.opened_at,
        opened_by=campaign.opened_by,
        closed_at=campaign.closed_at,
        closed_by=campaign.closed_by,
        open=campaign.closed_at is None,
        state=state,
        origin=CampaignOrigin(campaign.origin),
        hazard=campaign.hazard,
        hold_until=campaign.hold_until,
        released_at=released_at,
        released_by=released_by,
        notices=[notice_out(row) for row in notices],
    )


#: an area code: JMA's (2-digit prefecture, 3-digit 細分区域 or 津波予報区) or a CAP geocode value
AreaCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z._-]{1,32}$")
]
AreaCodes = Annotated[list[AreaCode], Field(max_length=200)]


class AlertRulesIn(InputModel):
    """Which alerts open a campaign for this municipality (the admin's)."""

    enabled: bool = Field(default=True, description="警報で開始する / alerts open campaigns")
    quake_area_codes: AreaCodes = Field(
        description="震度を見る地域コード（気象庁 地震情報／細分区域・都道府県等） / areas "
        "whose observed intensity counts"
    )
    min_intensity: str = Field(
        default="5-", description="この震度以上で開始（5弱 または 5-） / at least this intensity"
    )
    tsunami_area_codes: AreaCodes = Field(
        default_factory=list, description="沿岸の津波予報区コード / the coast's tsunami areas"
    )
    tsunami_advisories: bool = Field(
        default=False, description="津波注意報でも開始 / advisories open one too"
    )
    eruption_area_codes: AreaCodes = Field(
        default_factory=list, description="噴火警報の対象地域コード / eruption warning areas"
    )
    hold_minutes: int = Field(default=10, ge=0, le=120, description="誤報保留（分） / the hold")
    series_hours: int = Field(
        default=6, ge=0, le=72, description="続発をまとめる時間 / series window (hours)"
    )
    drills_from_exercises: bool = Field(
        default=True, description="訓練電文（Exercise）で訓練を開始 / exercises open drills"
    )

    @field_validator("min_intensity")
    @classmethod
    def _intensity(cls, value: str) -> str:
        return intensity_code(value)

    @field_validator("quake_area_codes", "tsunami_area_codes", "eruption_area_codes")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class AlertRulesOut(BaseModel):
    enabled: bool
    quake_area_codes: list[str]
    min_intensity: str
    min_intensity_name: str
    tsunami_area_codes: list[str]
    tsunami_advisories: bool
    eruption_area_codes: list[str]
    hold_minutes: int
    series_hours: int
    drills_from_exercises: bool
    customised: bool = Field(description="false: 既定値 / the defaults")


def rules_out(rules: Rules) -> AlertRulesOut:
    return AlertRulesOut(
        enabled=rules.enabled,
        quake_area_codes=list(rules.quake_area_codes),
        min_intensity=rules.min_intensity,
        min_intensity_name=intensity_name(rules.min_intensity),
        tsunami_area_codes=list(rules.tsunami_area_codes),
        tsunami_advisories=rules.tsunami_advisories,
        eruption_area_codes=list(rules.eruption_area_codes),
        hold_minutes=rules.hold_minutes,
        series_hours=rules.series_hours,
        drills_from_exercises=rules.drills_from_exercises,
        customised=rules.customised,
    )
