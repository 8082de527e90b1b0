"""Issuing a resident's link and recording what they report through it.

A link is a bearer credential for one resident in one campaign until it expires: its
holder may report more than once (safe now, needs help later; the latest report time
wins). What makes a resend harmless is the report's client id, as for every report:

- **a replayed request** (the same id and content, e.g. the phone's outbox sending again,
  or a captured request sent later) answers 200 with the first result and writes
  nothing;
- the same id with other content (another status, another resident's link) is 409 and
  writes nothing;
- a new id is a new report of the resident, within the campaign's time rules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from safety_check.campaigns import service as campaigns
from safety_check.links import signing
from safety_check.links.schemas import OneTapIn, OneTapOut
from safety_check.reports import service as reports
from safety_check.reports.models import ReporterKind, ReportSource, SafetyStatus
from safety_check.reports.schemas import ReportIn
from yui.auth.tokens import SigningKeys
from yui.db.database import Database
from yui.service_ports import Audience, ResidentDirectory

#: the default link address, the citizens' one-tap page (console/citizen), which calls the
#: link's API; ``{tenant}`` and ``{token}`` are filled in (YUI_SAFETY_LINK_URL)
DEFAULT_URL = "http://127.0.0.1:8400/console/citizen/{tenant}/r/{token}"


@dataclass(frozen=True)
class LinkMaker:
    secrets: SigningKeys
    url: str = DEFAULT_URL
    ttl_seconds: int = 14 * 24 * 3600

    def token(self, tenant: str, campaign_id: str, resident_id: str) -> str:
        claims = signing.LinkClaims(
            tenant, campaign_id, resident_id, int(time.time()) + self.ttl_seconds
        )
        return signing.issue(claims, self.secrets)

    def link(self, tenant: str, campaign_id: str, resident_id: str) -> str:
        token = self.token(tenant, campaign_id, resident_id)
        return self.url.format(tenant=tenant, token=token)


def actor_of(claims: signing.LinkClaims) -> str:
    """Who the audit log names for a report through a link: the resident themselves."""
    return f"resident:{claims.resident_id}"


def record(
    db: Database,
    directory: ResidentDirectory,
    claims: signing.LinkClaims,
    body: OneTapIn,
) -> tuple[OneTapOut, bool]:
    """Record the resident's report, verified for them by the link's signature; the
    answer, and whether it is new (False: a resend of a recorded id).

    The registry is read as staff: the resident reports on themselves, so a DV-support
    block does not hide them from their own link (nothing of the registry is answered)."""
    report = ReportIn(
        id=body.id,
        resident_id=claims.resident_id,
        status=SafetyStatus(body.status.value),
        reported_at=body.reported_at,
        reporter_kind=ReporterKind.RESIDENT,
        location=body.location,
        shelter=body.shelter,
        note=body.note,
    )
    with db.unit_of_work(claims.tenant) as uow:
        recorded = reports.record(
            uow,
            directory,
            claims.campaign_id,
            report,
            actor=actor_of(claims),
            audience=Audience.STAFF,
            may_record_death=False,
            source=ReportSource.ONE_TAP,
        )
        uow.commit()
        stored = recorded.report
        answer = OneTapOut(
            id=stored.id,
            campaign_id=stored.campaign_id,
            status=stored.status,
            reported_at=stored.reported_at,
            received_at=stored.received_at,
        )
        return answer, recorded.created


def campaign_of(db: Database, claims: signing.LinkClaims) -> tuple[str, bool]:
    with db.unit_of_work(claims.tenant, read_only=True) as uow:
        campaign = campaigns.get(uow.session, claims.campaign_id)
        return campaign.title, campaign.closed_at is None
