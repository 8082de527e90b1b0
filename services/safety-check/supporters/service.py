"""Supporters (避難支援等関係者): each gets the list of the people they are to check on, and
reports for them, through a personal signed link per campaign; staff see each one's progress.

The registry keeps supporters per needs-assistance entry (`SupporterFacts`: name, role,
phone, e-mail); one person registered for several residents (a 民生委員 for twenty) is
one supporter here: their id is derived from the tenant, the folded name, the phone's
digits and the e-mail, so it needs no table and stays the same across sites.

A supporter authenticates with the one-tap links' signed token (`links.signing`: per
tenant, expiring, the site's shared secret) whose subject is the supporter's id instead
of a resident's. A resident's token names no supporter (and a supporter's names no
resident), so neither opens the other's pages. The supporter reads the register as
non-staff in a disaster (災害対策基本法 第49条の11 第3項: shared without consent), so a
resident under a DV-support block is never on a supporter's list, nor reported through it.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from safety_check.campaigns import service as campaigns
from safety_check.links import signing
from safety_check.reports import service as reports
from safety_check.reports.form import fold
from safety_check.reports.models import CurrentStatus, ReporterKind, ReportSource, SafetyStatus
from safety_check.reports.schemas import ReportIn
from safety_check.supporters.schemas import (
    AssignedPerson,
    SupporterListOut,
    SupporterProgress,
    SupporterReportIn,
    SupportersOut,
)
from safety_check.views.service import UNCONFIRMED_STATUSES
from yui.audit import service as audit
from yui.auth.tokens import SigningKeys
from yui.db.unit_of_work import UnitOfWork
from yui.errors import NotFound
from yui.service_ports import AssistanceFacts, Audience, ResidentDirectory, SupporterFacts

#: the namespace of supporters' ids
SUPPORTER_IDS = uuid.UUID("0f6a4c1e-2d3b-4e5f-8a9b-1c2d3e4f5a6b")
#: how long a supporter's link lasts
LINK_TTL_SECONDS = 14 * 24 * 3600


def supporter_id(tenant: str, supporter: SupporterFacts) -> str:
    phone = re.sub(r"\D", "", supporter.phone)
    email = supporter.email.strip().lower()
    return str(uuid.uuid5(SUPPORTER_IDS, f"{tenant}|{fold(supporter.name)}|{phone}|{email}"))


@dataclass
class Assignment:
    supporter_id: str
    supporter: SupporterFacts
    people: list[AssistanceFacts] = field(default_factory=list)


def assignments(
    directory: ResidentDirectory, tenant: str, *, audience: Audience, actor: str
) -> dict[str, Assignment]:
    """Each supporter and the register's people they check on (priority order)."""
    groups: dict[str, Assignment] = {}
    register = directory.needs_assistance(tenant, audience=audience, actor=actor, disaster=True)
    for entry in register:
        for supporter in entry.supporters:
            key = supporter_id(tenant, supporter)
            group = groups.setdefault(key, Assignment(key, supporter))
            if entry not in group.people:
                group.people.append(entry)
    return groups


def _statuses(uow: UnitOfWork, campaign_id: str, ids: list[str]) -> dict[str, CurrentStatus]:
    if not ids:
        return {}
    rows = uow.session.execute(
        select(CurrentStatus).where(
            CurrentStatus.campaign_id == campaign_id, CurrentStatus.resident_id.in_(ids)
        )
    ).scalars()
    return {row.resident_id: row for row in rows}


def token_for(keys: SigningKeys, tenant: str, campaign_id: str, supporter: str) -> str:
    claims = signing.LinkClaims(tenant, campaign_id, supporter, int(time.time()) + LINK_TTL_SECONDS)
    return signing.issue(claims, keys)


def progress(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    *,
    actor: str,
    keys: SigningKeys | None,
    cursor: str,
    limit: int,
) -> SupportersOut:
    """Per supporter: how many people they check on, how many are confirmed; with each
    one's personal link token when `keys` is given (staff, who send the links)."""
    tenant = uow.tenant or ""
    groups = assignments(directory, tenant, audience=Audience.STAFF, actor=actor)
    campaign = campaigns.get(uow.session, campaign_id)
    ordered = sorted(key for key in groups if key > cursor)
    page = ordered[:limit]
    next_cursor = page[-1] if len(ordered) > limit else None
    ids = sorted({p.resident.resident_id for key in page for p in groups[key].people})
    statuses = _statuses(uow, campaign.id, ids)
    rows = []
    for key in page:
        group = groups[key]
        confirmed = sum(
            1
            for person in group.people
            if (row := statuses.get(person.resident.resident_id)) is not None
            and row.status not in UNCONFIRMED_STATUSES
        )
        rows.append(
            SupporterProgress(
                supporter_id=key,
                name=group.supporter.name,
                role=group.supporter.role,
                assigned=len(group.people),
                confirmed=confirmed,
                unconfirmed=len(group.people) - confirmed,
                token=token_for(keys, tenant, campaign.id, key) if keys else None,
            )
        )
    audit.record(
        uow.session,
        actor=actor,
        action="safety.supporter_progress",
        subject_type="safety_campaign",
        subject_id=campaign.id,
        detail={"supporters": len(rows), "links": keys is not None},
    )
    return SupportersOut(campaign_id=campaign.id, supporters=rows, next_cursor=next_cursor)


def actor_of(claims: signing.LinkClaims) -> str:
    return f"supporter:{claims.resident_id}"


def _assignment(directory: ResidentDirectory, claims: signing.LinkClaims) -> Assignment:
    groups = assignments(
        directory, claims.tenant, audience=Audience.NON_STAFF, actor=actor_of(claims)
    )
    group = groups.get(claims.resident_id)
    if group is None:
        # a resident's link, or a supporter no longer registered for anyone
        raise signing.InvalidLink(
            "このリンクは支援者のものではありません / this is not a supporter's link"
        )
    return group


def people_of(
    uow: UnitOfWork, directory: ResidentDirectory, claims: signing.LinkClaims
) -> SupporterListOut:
    """The people the link's supporter checks on, with what it takes to find them and the
    status the campaign holds for each."""
    group = _assignment(directory, claims)
    campaign = campaigns.get(uow.session, claims.campaign_id)
    statuses = _statuses(uow, campaign.id, [p.resident.resident_id for p in group.people])
    people = []
    for entry in group.people:
        facts = entry.resident
        row = statuses.get(facts.resident_id)
        people.append(
            AssignedPerson(
                resident_id=facts.resident_id,
                family_name=facts.family_name,
                given_name=facts.given_name,
                family_kana=facts.family_kana,
                given_kana=facts.given_kana,
                town_name=facts.town_name,
                address=entry.address,
                phone=entry.phone,
                needs=entry.needs,
                priority=entry.priority,
                status=SafetyStatus(row.status) if row else None,
                reported_at=row.reported_at if row else None,
            )
        )
    audit.record(
        uow.session,
        actor=actor_of(claims),
        action="safety.supporter_list",
        subject_type="resident",
        detail={"campaign": campaign.id, "results": [p.resident_id for p in people]},
    )
    return SupporterListOut(
        campaign_id=campaign.id,
        title=campaign.title,
        open=campaign.closed_at is None,
        supporter=group.supporter.name,
        people=people,
    )


def record_for(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    claims: signing.LinkClaims,
    body: SupporterReportIn,
) -> reports.Recorded:
    """A supporter's report about one of their people (never believed_dead)."""
    group = _assignment(directory, claims)
    entry = next((p for p in group.people if p.resident.resident_id == body.resident_id), None)
    if entry is None:
        raise NotFound("この方はあなたの担当にいません / this person is not on your list")
    report = ReportIn(
        id=body.id,
        resident_id=body.resident_id,
        status=SafetyStatus(body.status.value),
        reported_at=body.reported_at,
        reporter_kind=ReporterKind.SUPPORTER,
        location=body.location,
        shelter=body.shelter,
        note=body.note,
    )
    return reports.record(
        uow,
        directory,
        claims.campaign_id,
        report,
        actor=actor_of(claims),
        audience=Audience.NON_STAFF,
        may_record_death=False,
        source=ReportSource.SUPPORTER_LINK,
        resident=entry.resident,
    )
