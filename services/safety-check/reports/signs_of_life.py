"""A check-in at a shelter is a sign of life: the consumer of the kernel's `ShelterCheckedIn`.

Relief supplies publishes the event in the unit of work of the check-in; the composition
root subscribes `on_shelter_check_in`, which records an `at_shelter` report (source
"shelter check-in") in every open live campaign of the tenant, in that same unit of work:
the check-in and the sign of life commit and replicate together or not at all. Drills
are kept apart from live data, so a real check-in reports into live campaigns only.

The report's id is derived from the check-in (tenant, shelter, resident, time, campaign),
so the same check-in published again records nothing new. The registry is not asked (its
port opens its own transaction, which on SQLite would wait for this one): the event
carries the resident's 町字, else the resident's last report's 町字 is used.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.campaigns.models import Campaign, CampaignKind
from safety_check.reports import service
from safety_check.reports.models import CurrentStatus, ReporterKind, ReportSource, SafetyStatus
from safety_check.reports.schemas import ReportIn
from yui.events import ShelterCheckedIn
from yui.tenancy.scope import tenant_in_scope

#: the namespace of the reports' ids derived from check-ins
CHECK_IN_IDS = uuid.UUID("6b1f3a52-8f0e-4c53-9a55-0e5c1d2b7a10")
#: who recorded it, as the history shows
CHECK_IN_ACTOR = "shelter check-in"


def on_shelter_check_in(event: ShelterCheckedIn, session: Session | None) -> None:
    if session is None:
        raise ValueError(
            "避難所の受付は単位作業の中で通知してください / publish a check-in with its session"
        )
    if tenant_in_scope(session) != event.tenant:
        raise ValueError("別の自治体の受付です / a check-in of another municipality")
    campaigns = session.execute(
        select(Campaign).where(
            Campaign.kind == CampaignKind.LIVE.value,
            Campaign.opened_at <= event.at,
            Campaign.closed_at.is_(None),
        )
    ).scalars()
    for campaign in campaigns:
        town = event.town_name or _last_town(session, campaign.id, event.resident_id)
        body = ReportIn(
            id=str(
                uuid.uuid5(
                    CHECK_IN_IDS,
                    f"{event.tenant}|{event.shelter_id}|{event.resident_id}|"
                    f"{event.at.isoformat()}|{campaign.id}",
                )
            ),
            resident_id=event.resident_id,
            status=SafetyStatus.AT_SHELTER,
            reported_at=event.at,
            reporter_kind=ReporterKind.SHELTER_CHECK_IN,
            shelter=event.shelter_name[:100],
        )
        service.store(
            session,
            campaign,
            body,
            town_name=town,
            actor=CHECK_IN_ACTOR,
            source=ReportSource.SHELTER_CHECK_IN,
        )


def _last_town(session: Session, campaign_id: str, resident_id: str) -> str:
    town = session.execute(
        select(CurrentStatus.town_name).where(
            CurrentStatus.campaign_id == campaign_id, CurrentStatus.resident_id == resident_id
        )
    ).scalar_one_or_none()
    return town or ""
