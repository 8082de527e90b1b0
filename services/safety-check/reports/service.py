"""Recording reports and reading a resident's status: plain functions over a unit of work.

The registry is read through the kernel's `ResidentDirectory` port. A report reads its
resident with the port's `lookup_within`, in the report's own unit of work: the
registry's audit entry of that lookup commits with the report (one commit, not two), and
a refused report still commits the lookup's entry alone. The port's other calls run in
their own transactions: they are made before a unit of work touches the database (on
SQLite a write transaction holds the file's write lock from its first statement).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safety_check.campaigns import service as campaigns
from safety_check.campaigns.models import Campaign
from safety_check.reports import current
from safety_check.reports.models import Report, ReportSource, SafetyStatus
from safety_check.reports.schemas import ReportIn
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, Forbidden, InvalidInput, NotFound
from yui.service_ports import Audience, ResidentDirectory, ResidentFacts

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


class _Unread(Enum):
    UNREAD = "unread"


#: `store` reads the report already stored under the id itself (no caller read it)
UNREAD: Final = _Unread.UNREAD

#: the campaign, and the report already stored under the id if any (a resend, whatever
#: its campaign), in one read; built once
_CAMPAIGN_AND_RESEND = (
    select(Campaign, Report)
    .outerjoin(Report, Report.id == bindparam("report_id"))
    .where(Campaign.id == bindparam("campaign_id"))
)


def _campaign_and_resend(
    session: Session, campaign_id: str, report_id: str
) -> tuple[Campaign, Report | None]:
    row = session.execute(
        _CAMPAIGN_AND_RESEND, {"campaign_id": campaign_id, "report_id": report_id}
    ).one_or_none()
    if row is None:
        raise campaigns.missing(campaign_id)
    return row[0], row[1]


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
    source: ReportSource = ReportSource.STAFF,
    resident: ResidentFacts | None = None,
) -> Recorded:
    """Record `body` (refused whole when wrong), or answer a resend with the first result.

    `resident` is the registry's facts when the caller already looked the person up as
    `audience` (a link's holder, a matched form); else they are looked up here."""
    if body.status == SafetyStatus.BELIEVED_DEAD and not may_record_death:
        raise Forbidden(
            "「死亡と思われる」は職員だけが記録できます / only staff may record believed_dead"
        )
    session = uow.session
    if resident is not None and resident.resident_id == body.resident_id:
        campaign = campaigns.get(session, campaign_id)
        return store(
            session, campaign, body, town_name=resident.town_name, actor=actor, source=source
        )

    def look_up() -> ResidentFacts | None:
        # in this unit of work: the registry's audit entry commits with the report
        return directory.lookup_within(session, body.resident_id, audience=audience, actor=actor)

    campaign, stored = _campaign_and_resend(session, campaign_id, body.id)
    facts = look_up()
    if facts is None:
        uow.commit()  # the lookup's audit entry: a report about no one we may see is a probe
        raise NotFound(f"住民 {body.resident_id} はいません / no resident {body.resident_id}")
    try:
        return store(
            session,
            campaign,
            body,
            town_name=facts.town_name,
            actor=actor,
            source=source,
            after_rollback=look_up,
            stored=stored,
        )
    except (Conflict, InvalidInput):
        # refused, nothing of the report kept: the lookup is recorded all the same
        uow.rollback()
        look_up()
        uow.commit()
        raise


def check_time(campaign: Campaign, reported_at: datetime) -> datetime:
    """This site's time now, when `reported_at` may be a report time of the campaign: not
    beyond the clock skew ahead, not before it opened nor after it closed."""
    received = campaigns.now()
    if reported_at > received + CLOCK_SKEW:
        raise InvalidInput("報告時刻が未来です / the report time is in the future")
    if reported_at < campaign.opened_at:
        raise InvalidInput(
            "報告時刻が安否確認の開始より前です / the report time is before the campaign opened"
        )
    if campaign.closed_at is not None and reported_at > campaign.closed_at:
        raise InvalidInput(
            "報告時刻が安否確認の終了より後です / the report time is after the campaign closed"
        )
    return received


def store(
    session: Session,
    campaign: Campaign,
    body: ReportIn,
    *,
    town_name: str,
    actor: str,
    source: ReportSource,
    after_rollback: Callable[[], object] | None = None,
    stored: Report | _Unread | None = UNREAD,
) -> Recorded:
    """The checks and the write every report shares, whoever made it (the resident already
    found by the caller): a resend answers the first result; the report time must fall in
    the campaign; the report, its audit entry and the current status are written together.

    `after_rollback` writes again what the caller had written in this transaction before
    (the registry's lookup and its audit entry) when a racing resend rolls it back.
    `stored` is the report already stored under the id (or None) when the caller read it."""
    if stored is UNREAD:
        with session.no_autoflush:  # a read by key: what is pending (the lookup's audit) waits
            stored = session.get(Report, body.id)
    if stored is not None:
        if not _same_report(stored, campaign.id, body):
            raise Conflict(
                "同じ報告IDで内容の違う報告があります / this report id was used for another report"
            )
        return Recorded(stored, created=False)
    received = check_time(campaign, body.reported_at)
    # the audit entry before the report's row, and both flushed at once: the tenant's
    # audit head (held since the registry's lookup, if any) is written once
    audit.record(
        session,
        actor=actor,
        action="safety.report",
        subject_type="resident",
        subject_id=body.resident_id,
        detail={
            "campaign": campaign.id,
            "report": body.id,
            "status": body.status.value,
            "source": source.value,
        },
    )
    report = Report(
        campaign_id=campaign.id,
        town_name=town_name,
        received_at=received,
        recorded_by=actor,
        source=source.value,
        **body.model_dump(),
    )
    session.add(report)
    campaign_id = campaign.id  # the object expires at a rollback (and may be gone then)
    try:
        session.flush()
    except IntegrityError:
        # a resend committed since we looked (the same report: answer as for a resend), a
        # drill purged since we read it, or the id of a report this tenant cannot see:
        # never ours to overwrite
        session.rollback()
        if after_rollback is not None:
            after_rollback()
        stored = session.get(Report, body.id)
        if stored is not None and _same_report(stored, campaign_id, body):
            return Recorded(stored, created=False)
        if session.get(Campaign, campaign_id) is None:
            raise campaigns.missing(campaign_id) from None
        raise Conflict(
            "この報告IDは別の報告に使われています / this report id was used for another report"
        ) from None
    # after the audit entry: its lock on the tenant's audit head orders every writer of
    # the current rows and counts (reports/current.py)
    current.apply(session, report)
    return Recorded(report, created=True)


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
