"""Staff views of a campaign: counts per district and the unconfirmed list.

Both are staff-only (staff, auditor), so they read the registry as `Audience.STAFF`:
residents under a DV-support block are counted and listed, flagged, as the registry's
own staff search shows them. The registry's port calls run in their own transactions,
so this unit of work reads what it needs first and ends its transaction before them
(on SQLite a write transaction holds the file's write lock from its first statement).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safety_check.campaigns import service as campaigns
from safety_check.reports.models import Report, SafetyStatus
from safety_check.reports.service import is_current
from safety_check.views.schemas import (
    CampaignCounts,
    DistrictCounts,
    UnconfirmedOut,
    UnconfirmedResident,
)
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.service_ports import AssistanceFacts, Audience, ResidentDirectory, ResidentFacts

#: a latest report with one of these confirms nothing about the person
UNCONFIRMED_STATUSES = frozenset({SafetyStatus.INFORMATION_SOUGHT, SafetyStatus.BELIEVED_MISSING})


def current_statuses(session: Session, campaign_id: str) -> dict[str, SafetyStatus]:
    """Each reported resident's current status in the campaign."""
    rows = session.execute(
        select(Report.resident_id, Report.status).where(
            Report.campaign_id == campaign_id, is_current()
        )
    )
    return {resident_id: SafetyStatus(value) for resident_id, value in rows}


def _district(town: str, residents: int, counts: Counter[SafetyStatus]) -> DistrictCounts:
    confirmed = sum(n for status, n in counts.items() if status not in UNCONFIRMED_STATUSES)
    return DistrictCounts(
        town_name=town,
        residents=residents,
        counts=dict(sorted(counts.items())),
        # a resident who moved district since their report counts where the report says
        unconfirmed=max(residents - confirmed, 0),
    )


def counts_by_district(
    uow: UnitOfWork, directory: ResidentDirectory, campaign_id: str
) -> CampaignCounts:
    residents = directory.count_by_district(uow.tenant or "", audience=Audience.STAFF)
    campaign = campaigns.get(uow.session, campaign_id)
    rows = uow.session.execute(
        select(Report.town_name, Report.status, func.count())
        .where(Report.campaign_id == campaign.id, is_current())
        .group_by(Report.town_name, Report.status)
    )
    by_town: defaultdict[str, Counter[SafetyStatus]] = defaultdict(Counter)
    for town, value, count in rows:
        by_town[town][SafetyStatus(value)] += count
    towns = sorted(set(residents) | set(by_town))
    total: Counter[SafetyStatus] = Counter()
    for counts in by_town.values():
        total.update(counts)
    return CampaignCounts(
        campaign_id=campaign.id,
        districts=[_district(town, residents.get(town, 0), by_town[town]) for town in towns],
        total=_district("", sum(residents.values()), total),
    )


def _listed(
    facts: ResidentFacts, status: SafetyStatus | None, entry: AssistanceFacts | None
) -> UnconfirmedResident:
    return UnconfirmedResident(
        resident_id=facts.resident_id,
        family_name=facts.family_name,
        given_name=facts.given_name,
        family_kana=facts.family_kana,
        given_kana=facts.given_kana,
        birth_date=facts.birth_date,
        town_name=facts.town_name,
        needs_assistance=facts.needs_assistance,
        priority=entry.priority if entry else None,
        address=entry.address if entry else "",
        phone=entry.phone if entry else "",
        dv_block=facts.dv_block,
        status=status,
    )


def unconfirmed(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    *,
    actor: str,
    cursor: str,
    limit: int,
) -> UnconfirmedOut:
    tenant = uow.tenant or ""
    campaign = campaigns.get(uow.session, campaign_id)
    statuses = current_statuses(uow.session, campaign.id)
    uow.session.rollback()  # read only so far: free the database before the registry's calls

    def waiting(resident_id: str) -> bool:
        status = statuses.get(resident_id)
        return status is None or status in UNCONFIRMED_STATUSES

    first: list[UnconfirmedResident] = []
    if not cursor:
        register = directory.needs_assistance(
            tenant, audience=Audience.STAFF, actor=actor, disaster=True
        )
        first = [
            _listed(entry.resident, statuses.get(entry.resident.resident_id), entry)
            for entry in register
            if waiting(entry.resident.resident_id)
        ]
    rest: list[UnconfirmedResident] = []
    after, next_cursor = cursor, None
    while len(rest) < limit:
        page = directory.roster(
            tenant, audience=Audience.STAFF, actor=actor, after=after, limit=limit
        )
        for facts in page:
            after = facts.resident_id
            if not facts.needs_assistance and waiting(facts.resident_id):
                rest.append(_listed(facts, statuses.get(facts.resident_id), None))
                if len(rest) == limit:
                    next_cursor = facts.resident_id
                    break
        if len(page) < limit:
            break
    listed = [item.resident_id for item in first + rest]
    audit.record(
        uow.session,
        actor=actor,
        action="safety.unconfirmed_list",
        subject_type="resident",
        detail={"campaign": campaign_id, "results": listed[:200], "count": len(listed)},
    )
    return UnconfirmedOut(
        campaign_id=campaign_id, needs_assistance=first, residents=rest, next_cursor=next_cursor
    )
