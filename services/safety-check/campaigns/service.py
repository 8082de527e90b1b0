"""Opening, closing and purging campaigns: plain functions over the unit of work's session."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.campaigns.models import Campaign, CampaignKind
from safety_check.campaigns.schemas import CampaignIn
from safety_check.reports import current
from safety_check.reports.models import Report
from safety_check.subscriptions.models import end_with_campaign
from yui.audit import service as audit
from yui.errors import Conflict, NotFound


def now() -> datetime:
    return datetime.now(UTC)


def get(session: Session, campaign_id: str) -> Campaign:
    """The campaign of this tenant; another tenant's id is as unknown as a made-up one."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"安否確認 {campaign_id} はありません / no campaign {campaign_id}")
    return campaign


def listed(session: Session) -> list[Campaign]:
    return list(session.execute(select(Campaign).order_by(Campaign.opened_at.desc())).scalars())


def open_campaign(session: Session, body: CampaignIn, *, actor: str) -> Campaign:
    campaign = Campaign(title=body.title, kind=body.kind, opened_at=now(), opened_by=actor)
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="safety.campaign_open",
        subject_type="safety_campaign",
        subject_id=campaign.id,
        detail={"kind": body.kind.value},
    )
    return campaign


def close(session: Session, campaign_id: str, *, actor: str) -> Campaign:
    campaign = get(session, campaign_id)
    if campaign.closed_at is not None:
        raise Conflict("この安否確認は終了しています / the campaign is already closed")
    campaign.closed_at, campaign.closed_by = now(), actor
    end_with_campaign(session, campaign.id)  # subscriptions end with the campaign
    audit.record(
        session,
        actor=actor,
        action="safety.campaign_close",
        subject_type="safety_campaign",
        subject_id=campaign.id,
    )
    return campaign


def purge_drill(session: Session, campaign_id: str, *, actor: str) -> int:
    """Delete a drill campaign and every report in it; a live campaign is never purged.
    Rows are deleted one by one through the ORM so the change log carries each delete."""
    campaign = get(session, campaign_id)
    if campaign.kind != CampaignKind.DRILL:
        raise Conflict(
            "本番の安否確認は削除できません（訓練のみ） / only a drill campaign can be purged"
        )
    reports = list(
        session.execute(select(Report).where(Report.campaign_id == campaign.id)).scalars()
    )
    current.purge(session, campaign.id)
    for report in reports:
        session.delete(report)
    session.flush()
    session.delete(campaign)
    audit.record(
        session,
        actor=actor,
        action="safety.campaign_purge",
        subject_type="safety_campaign",
        subject_id=campaign_id,
        detail={"reports": len(reports)},
    )
    return len(reports)
