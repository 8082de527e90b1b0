"""Staff resolving a resident's disagreeing reports: an explicit, audited record of who
settled it, when, which status they kept and why.

The kept status is recorded as the staff member's own report (through `reports.store`,
with its checks, audit entry and current-status update), so it is the resident's latest
report and counts on the dashboard; the resolution names that report and clears the
resident's `disagreeing` flag. From then on only the reports received since the latest
resolution (the resolving report among them) can disagree again (`current._disagrees`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.campaigns import service as campaigns
from safety_check.reports import current
from safety_check.reports import service as reports
from safety_check.reports.models import DisagreementResolution, ReportSource, SafetyStatus
from safety_check.reports.schemas import ReportIn, ResolutionIn, ResolutionOut, StaffFinding
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, NotFound
from yui.service_ports import Audience, ResidentDirectory

#: the fields that make a resolution what it is: the same id with other values is a conflict
CONTENT = ("campaign_id", "resident_id", "status", "reporter_kind", "note")


@dataclass(frozen=True)
class Resolved:
    resolution: DisagreementResolution
    #: False when the id was already used for the same resolution (a resend)
    created: bool


def resolve(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    resident_id: str,
    body: ResolutionIn,
    *,
    actor: str,
) -> Resolved:
    """Settle the resident's open disagreement with what staff found out (refused whole
    when there is none), or answer a resend with the first result."""
    # the registry's call first: it runs in its own transaction (SQLite's write lock)
    facts = directory.lookup(uow.tenant or "", resident_id, audience=Audience.STAFF, actor=actor)
    session = uow.session
    # The tenant's audit head before the resend check: it orders this with every report's
    # writer (before the resident's current row is locked, reports/current.py), and a
    # resend at the same moment waits for the first and answers its result. Before, on
    # PostgreSQL, neither found the resolution and the second found nothing left to
    # resolve (409).
    campaign = campaigns.in_turn(session, campaign_id)
    stored = session.get(DisagreementResolution, body.id)
    if stored is not None:
        sent = {"campaign_id": campaign.id, "resident_id": resident_id, **body.model_dump()}
        sent.pop("id")
        if any(getattr(stored, name) != sent[name] for name in CONTENT):
            raise Conflict(
                "同じ解決IDで内容の違う解決があります / this resolution id was used for another"
            )
        return Resolved(stored, created=False)
    if facts is None:
        raise NotFound(f"住民 {resident_id} はいません / no resident {resident_id}")
    audit.record(
        session,
        actor=actor,
        action="safety.disagreement_resolve",
        subject_type="resident",
        subject_id=resident_id,
        detail={"campaign": campaign.id, "resolution": body.id, "status": body.status.value},
    )
    row = current.current_row(session, campaign.id, resident_id)
    if row is None or not row.disagreeing:
        raise Conflict(
            "この住民の報告に未解決の食い違いはありません / "
            "this resident has no open disagreement to resolve"
        )
    finding = ReportIn(
        id=body.id,
        resident_id=resident_id,
        status=body.status,
        reported_at=campaigns.now(),
        reporter_kind=body.reporter_kind.value,
        note=body.note,
    )
    recorded = reports.store(
        session,
        campaign,
        finding,
        town_name=facts.town_name,
        actor=actor,
        source=ReportSource.STAFF,
    )
    resolution = DisagreementResolution(
        id=body.id,
        campaign_id=campaign.id,
        resident_id=resident_id,
        status=body.status.value,
        reporter_kind=body.reporter_kind.value,
        report_id=recorded.report.id,
        note=body.note,
        resolved_by=actor,
        resolved_at=recorded.report.received_at,
    )
    session.add(resolution)
    row.disagreeing = False
    session.flush()
    return Resolved(resolution, created=True)


def latest_of(
    session: Session, campaign_id: str, resident_ids: list[str]
) -> dict[str, DisagreementResolution]:
    """Each of these residents' latest resolution in the campaign, when they have one."""
    if not resident_ids:
        return {}
    rows = session.execute(
        select(DisagreementResolution)
        .where(
            DisagreementResolution.campaign_id == campaign_id,
            DisagreementResolution.resident_id.in_(resident_ids),
        )
        .order_by(DisagreementResolution.resolved_at, DisagreementResolution.id)
    ).scalars()
    return {row.resident_id: row for row in rows}  # the latest last: it stays


def resolution_out(row: DisagreementResolution) -> ResolutionOut:
    return ResolutionOut(
        id=row.id,
        campaign_id=row.campaign_id,
        resident_id=row.resident_id,
        status=SafetyStatus(row.status),
        reporter_kind=StaffFinding(row.reporter_kind),
        report_id=row.report_id,
        note=row.note,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
    )
