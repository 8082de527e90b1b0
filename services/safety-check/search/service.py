"""One municipality's part of the citizens' search: who matches, and their minimal status.

Only live campaigns that are open are searched (a drill is never public, and without a
disaster under way the registry is not searched at all). The registry is asked through
the kernel's port as `Audience.NON_STAFF`: a resident under a DV-support block, or a
former resident, is not found, and the answer is the same as for nobody. The port's
call runs in its own transaction, so it comes before this unit of work's first statement.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.campaigns.models import Campaign, CampaignKind
from safety_check.reports.models import Report, SafetyStatus
from safety_check.search.schemas import PUBLIC_STATUS, Match, PublicStatus, TenantAnswer
from yui.audit import service as audit
from yui.db.database import Database
from yui.db.unit_of_work import UnitOfWork
from yui.service_ports import Audience, ResidentDirectory, ResidentFacts
from yui.tenancy.models import Tenant


def open_live_campaigns(session: Session) -> list[str]:
    """Ids of this tenant's live campaigns still open, newest first."""
    return list(
        session.execute(
            select(Campaign.id)
            .where(Campaign.kind == CampaignKind.LIVE.value, Campaign.closed_at.is_(None))
            .order_by(Campaign.opened_at.desc())
        ).scalars()
    )


def current_report(session: Session, campaign_ids: list[str], resident_id: str) -> Report | None:
    """The resident's latest report (by report time, then id) in any of the campaigns."""
    return session.execute(
        select(Report)
        .where(Report.campaign_id.in_(campaign_ids), Report.resident_id == resident_id)
        .order_by(Report.reported_at.desc(), Report.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def public_match(report: Report | None) -> Match:
    if report is None:
        return Match(status=PublicStatus.NO_INFORMATION, reported_at=None)
    return Match(status=PUBLIC_STATUS[SafetyStatus(report.status)], reported_at=report.reported_at)


def matching_residents(
    db: Database,
    directory: ResidentDirectory,
    tenant: str,
    name: str,
    birth_date: date,
    *,
    actor: str,
) -> tuple[list[str], list[ResidentFacts]]:
    """The open live campaigns and, when there is one, the registered matches a non-staff
    audience may see (port calls first: their own transactions)."""
    with db.unit_of_work(tenant, read_only=True) as read:
        campaigns = open_live_campaigns(read.session)
    if not campaigns:
        return [], []
    return campaigns, directory.identify(
        tenant, name, birth_date, audience=Audience.NON_STAFF, actor=actor
    )


def search(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    db: Database,
    name: str,
    birth_date: date,
    *,
    client: str,
) -> TenantAnswer:
    tenant = uow.tenant or ""
    actor = f"public:{client}"
    campaigns, residents = matching_residents(db, directory, tenant, name, birth_date, actor=actor)
    session = uow.session
    municipality = session.get(Tenant, tenant)
    answer = TenantAnswer(
        tenant=tenant,
        municipality=municipality.name if municipality is not None else "",
        searching=bool(campaigns),
        matches=[],
    )
    if not campaigns:
        return answer
    answer.matches = [
        public_match(current_report(session, campaigns, facts.resident_id)) for facts in residents
    ]
    ids = [facts.resident_id for facts in residents]
    audit.record(
        session,
        actor=actor,
        action="safety.public_search",
        subject_type="resident",
        subject_id=ids[0] if len(ids) == 1 else "",
        # the name searched for is not kept: the ids shown say whom it revealed
        detail={"client": client, "results": ids, "campaigns": campaigns},
    )
    return answer
