"""Recording reports and reading a resident's status: plain functions over a unit of work.

The registry is read through the kernel's `ResidentDirectory` port, whose calls run in
their own transactions: they are made before this unit of work touches the database
(on SQLite a write transaction holds the file's write lock from its first statement).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from safety_check.campaigns import service as campaigns
from safety_check.reports.models import Report, SafetyStatus
from safety_check.reports.schemas import ReportIn
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, Forbidden, InvalidInput, NotFound
from yui.service_ports import Audience, ResidentDirectory

#: how far ahead of this site's clock a report time may be (a phone's clock runs fast)
CLOCK_SKEW = timedelta(minutes=5)
#: the fields that make a report what it is: the same id with other values is a conflict
CONTENT = (
    "campaign_id",
    "resident_id",
    "status",
    "reported_at",
    "reporter_kind",
    "location",
    "shelter",
    "note",
)


@dataclass(frozen=True)
class Recorded:
    report: Report
    #: False when the id was already recorded with the same content (a resend)
    created: bool


def _same_report(stored: Report, campaign_id: str, body: ReportIn) -> bool:
    sent = {"campaign_id": campaign_id, **body.model_dump(exclude={"id"})}
    # times compare as instants (+09:00 and its UTC form are the same report time)
    return all(getattr(stored, name) == sent[name] for name in CONTENT)


def record(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    body: ReportIn,
    *,
    actor: str,
    audience: Audience,
    may_record_death: bool,
) -> Recorded:
    if body.status == SafetyStatus.BELIEVED_DEAD and not may_record_death:
        raise Forbidden(
            "「死亡と思われる」は職員だけが記録できます / only staff may record believed_dead"
        )
    tenant = uow.tenant or ""
    facts = directory.lookup(tenant, body.resident_id, audience=audience, actor=actor)
    session = uow.session
    campaign = campaigns.get(session, campaign_id)
    if facts is None:
        raise NotFound(f"住民 {body.resident_id} はいません / no resident {body.resident_id}")
    stored = session.get(Report, body.id)
    if stored is not None:
        if not _same_report(stored, campaign.id, body):
            raise Conflict(
                "同じ報告IDで内容の違う報告があります / this report id was used for another report"
            )
        return Recorded(stored, created=False)
    received = campaigns.now()
    if body.reported_at > received + CLOCK_SKEW:
        raise InvalidInput("報告時刻が未来です / the report time is in the future")
    if body.reported_at < campaign.opened_at:
        raise InvalidInput(
            "報告時刻が安否確認の開始より前です / the report time is before the campaign opened"
        )
    if campaign.closed_at is not None and body.reported_at > campaign.closed_at:
        raise InvalidInput(
            "報告時刻が安否確認の終了より後です / the report time is after the campaign closed"
        )
    report = Report(
        campaign_id=campaign.id,
        town_name=facts.town_name,
        received_at=received,
        recorded_by=actor,
        **body.model_dump(),
    )
    session.add(report)
    try:
        session.flush()
    except IntegrityError:
        # a resend committed since we looked (the same report: answer as for a resend), or
        # the id of a report this tenant cannot see: never ours to overwrite
        session.rollback()
        stored = session.get(Report, body.id)
        if stored is not None and _same_report(stored, campaign_id, body):
            return Recorded(stored, created=False)
        raise Conflict(
            "この報告IDは別の報告に使われています / this report id was used for another report"
        ) from None
    audit.record(
        session,
        actor=actor,
        action="safety.report",
        subject_type="resident",
        subject_id=body.resident_id,
        detail={"campaign": campaign.id, "report": report.id, "status": body.status.value},
    )
    return Recorded(report, created=True)


def is_current() -> ColumnElement[bool]:
    """The condition that a report is its resident's current one in its campaign: no
    report of the same resident has a later report time (or the same time, a larger id).
    Arrival order plays no part, so an old report that arrives late changes nothing."""
    later = aliased(Report)
    return ~exists().where(
        later.campaign_id == Report.campaign_id,
        later.resident_id == Report.resident_id,
        or_(
            later.reported_at > Report.reported_at,
            and_(later.reported_at == Report.reported_at, later.id > Report.id),
        ),
    )


def history(session: Session, campaign_id: str, resident_id: str) -> list[Report]:
    """Every report of the resident in the campaign, latest report time first."""
    return list(
        session.execute(
            select(Report)
            .where(Report.campaign_id == campaign_id, Report.resident_id == resident_id)
            .order_by(Report.reported_at.desc(), Report.id.desc())
        ).scalars()
    )


def resident_status(
    session: Session, campaign_id: str, resident_id: str, *, actor: str
) -> list[Report]:
    campaign = campaigns.get(session, campaign_id)
    reports = history(session, campaign.id, resident_id)
    audit.record(
        session,
        actor=actor,
        action="safety.resident_read",
        subject_type="resident",
        subject_id=resident_id,
        detail={"campaign": campaign.id, "reports": len(reports)},
    )
    return reports
