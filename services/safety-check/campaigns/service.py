"""Opening, closing and purging campaigns, and the false-alarm hold: plain functions over
the unit of work's session.

A campaign becomes open in one place, `release` (staff opened it, staff sent it at once,
or its hold ended): what starts when a campaign opens (the fan-out) starts there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.campaigns.models import (
    HOLD,
    Campaign,
    CampaignAlert,
    CampaignKind,
    CampaignOrigin,
    CampaignState,
    state_of,
)
from safety_check.outreach.purge import purge_plan
from safety_check.reports import current
from safety_check.reports.models import Report
from safety_check.subscriptions.models import end_with_campaign
from yui.audit import service as audit
from yui.errors import Conflict, NotFound

if TYPE_CHECKING:
    from safety_check.campaigns.schemas import CampaignIn


#: the times staff are told (notices, messages) are Japan time
JST = ZoneInfo("Asia/Tokyo")


def now() -> datetime:
    return datetime.now(UTC)


def get(session: Session, campaign_id: str) -> Campaign:
    """The campaign of this tenant; another tenant's id is as unknown as a made-up one."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise missing(campaign_id)
    return campaign


def missing(campaign_id: str) -> NotFound:
    return NotFound(f"安否確認 {campaign_id} はありません / no campaign {campaign_id}")


def listed(session: Session) -> list[Campaign]:
    return list(session.execute(select(Campaign).order_by(Campaign.opened_at.desc())).scalars())


#: who released a campaign whose hold ended (released_by)
def notices_of(session: Session, campaign_ids: Iterable[str]) -> dict[str, list[CampaignAlert]]:
    """The alerts of each campaign (what staff are told), oldest first."""
    wanted = list(campaign_ids)
    found: dict[str, list[CampaignAlert]] = {campaign_id: [] for campaign_id in wanted}
    if not wanted:
        return found
    rows = session.execute(
        select(CampaignAlert)
        .where(CampaignAlert.campaign_id.in_(wanted))
        .order_by(CampaignAlert.received_at, CampaignAlert.id)
    ).scalars()
    for row in rows:
        found[row.campaign_id].append(row)
    return found


def release(session: Session, campaign: Campaign, *, at: datetime, by: str) -> None:
    """The campaign is open from ``at``: people may be reached from now on."""
    campaign.state, campaign.released_at, campaign.released_by = CampaignState.OPEN, at, by
    audit.record(
        session,
        actor=by if by != HOLD else "system:hold",
        action="safety.campaign_release",
        subject_type="safety_campaign",
        subject_id=campaign.id,
        detail={"by": by, "at": at.isoformat()},
    )


def open_campaign(session: Session, body: CampaignIn, *, actor: str) -> Campaign:
    opened = now()
    campaign = Campaign(
        title=body.title,
        kind=body.kind,
        opened_at=opened,
        opened_by=actor,
        state=CampaignState.OPEN,
        origin=CampaignOrigin.STAFF,
        released_at=opened,
        released_by=actor,
    )
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


def in_turn(session: Session, campaign_id: str) -> Campaign:
    """The campaign, read after the tenant's audit head is taken: two staff changing its
    state at the same moment (close, send at once, cancel; resolving a disagreement in
    it; the hold's release job takes the head too) are taken in turn, and the second sees
    what the first did (409). Before, on PostgreSQL, a send-now and a cancel at once both
    answered 200, and the one committed last decided the state."""
    audit.hold(session)
    return get(session, campaign_id)


def close(session: Session, campaign_id: str, *, actor: str) -> Campaign:
    campaign = in_turn(session, campaign_id)
    if campaign.closed_at is not None:
        raise Conflict("この安否確認は終了しています / the campaign is already closed")
    campaign.closed_at, campaign.closed_by = now(), actor
    end_with_campaign(session, campaign.id)  # subscriptions end with the campaign
    campaign.state = CampaignState.CLOSED
    audit.record(
        session,
        actor=actor,
        action="safety.campaign_close",
        subject_type="safety_campaign",
        subject_id=campaign.id,
    )
    return campaign


def _pending(campaign: Campaign, at: datetime) -> None:
    state = state_of(campaign, at)
    if state is CampaignState.OPEN:
        # its hold has ended (or it had none): its messages go out, nothing is held back
        since = campaign.released_at or campaign.hold_until or campaign.opened_at
        opened = since.astimezone(JST).isoformat(timespec="minutes")
        raise Conflict(
            f"この安否確認は保留中ではありません。すでに送信されています（{opened} に開始） / "
            f"the campaign is not held: it was already sent (open since {opened})"
        )
    if state is not CampaignState.PENDING:
        raise Conflict(
            f"この安否確認は保留中ではありません（{state.value}） / the campaign is not held "
            f"(it is {state.value})"
        )


def send_now(session: Session, campaign_id: str, *, actor: str) -> Campaign:
    """End the hold at once: staff judged the alert real."""
    campaign = in_turn(session, campaign_id)
    at = now()
    _pending(campaign, at)
    release(session, campaign, at=at, by=actor)
    return campaign


def cancel(session: Session, campaign_id: str, *, actor: str) -> Campaign:
    """A false alarm: the held campaign ends before anyone was reached."""
    campaign = in_turn(session, campaign_id)
    at = now()
    _pending(campaign, at)
    campaign.state = CampaignState.CANCELLED
    campaign.closed_at, campaign.closed_by = at, actor
    end_with_campaign(session, campaign.id)  # as when closed
    audit.record(
        session,
        actor=actor,
        action="safety.campaign_cancel",
        subject_type="safety_campaign",
        subject_id=campaign.id,
    )
    return campaign


def held_until_due(session: Session, at: datetime) -> list[Campaign]:
    return list(
        session.execute(
            select(Campaign)
            .where(Campaign.state == CampaignState.PENDING, Campaign.hold_until <= at)
            .order_by(Campaign.hold_until)
        ).scalars()
    )


def release_due(session: Session, at: datetime | None = None) -> list[Campaign]:
    """Open every campaign whose hold has ended (the periodic job at the primary). The end
    is the stored ``hold_until``, so a restart or a failover in the hold changes nothing:
    whichever site is the primary when it has passed opens the campaign, once."""
    # The tenant's audit head first, as staff's send-now and cancel take it: a cancel at
    # the very moment the hold ends either comes first (the job then finds the campaign
    # cancelled) or finds it sent (409). Before, on PostgreSQL, both went on from the same
    # read: the job opened the cancelled campaign, or the two deadlocked (a 500).
    audit.hold(session)
    released = held_until_due(session, at or now())
    for campaign in released:
        if campaign.hold_until is not None:
            release(session, campaign, at=campaign.hold_until, by=HOLD)
    return released


def purge_drill(session: Session, campaign_id: str, *, actor: str) -> int:
    """Delete a drill campaign and every report in it; a live campaign is never purged.
    Rows are deleted one by one through the ORM so the change log carries each delete."""
    # The tenant's audit head first: every report takes it before its rows and counts
    # (reports/current.py). Without it, on PostgreSQL, a report of the drill deadlocked
    # with the purge, or committed after the purge listed the reports (the campaign's
    # delete then failed on the new report's foreign key). Before the campaign is read: a
    # second purge at the same moment (a double click) then finds it gone (404); it read
    # the campaign first, deleted nothing and recorded a second purge (204 twice).
    audit.hold(session)
    campaign = get(session, campaign_id)
    if campaign.kind != CampaignKind.DRILL:
        raise Conflict(
            "本番の安否確認は削除できません（訓練のみ） / only a drill campaign can be purged"
        )
    reports = list(
        session.execute(select(Report).where(Report.campaign_id == campaign.id)).scalars()
    )
    audit.record(
        session,
        actor=actor,
        action="safety.campaign_purge",
        subject_type="safety_campaign",
        subject_id=campaign_id,
        detail={"reports": len(reports)},
    )
    current.purge(session, campaign.id)
    purge_plan(session, campaign.id)  # the fan-out's plan: who was sent what, and where
    for report in reports:
        session.delete(report)
    for notice in notices_of(session, [campaign.id])[campaign.id]:
        session.delete(notice)
    session.flush()
    session.delete(campaign)
    return len(reports)
