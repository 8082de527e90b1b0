"""Keeping each resident's current status, and the counts the staff views read, with each report.

Every new report, in the unit of work that records it:

- moves the resident's `CurrentStatus` row to it when its report time is the latest (then
  the larger id); an older report that arrives late leaves the row as it was;
- keeps `StatusCount` (residents per 町字 and current status) equal to what the current
  rows say, so the staff counts read a few rows instead of a million;
- adds to `StatusChange` the net change that the report makes to the counts over report
  time: the report's status holds from its time until the resident's next report (the
  status before it, if any, stops holding then), so the counts at any time are the sum
  of the changes up to it, whatever order the reports arrived in;
- adds the same changes, summed over the 町字, to `MinuteChange` (the whole campaign's
  curve reads those few rows);
- flags the resident when two reports from different reporters within two hours of each
  other say different things (one fine, one in trouble). Once staff resolved it
  (`resolutions.py`), only the reports received since the latest resolution, the
  resolving staff report among them, are compared: a report that agrees with the kept
  status leaves the resident resolved, one that disagrees with it flags them again.

Locks: callers write the audit entry (which locks the tenant's audit head) before calling
`apply`, so every writer of these rows queues there first, and the rows are locked in one
order (the resident's row, then the counts, then the changes, then the minute changes,
each sorted): no deadlock
on PostgreSQL, and no two first inserts of the same row.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from safety_check.reports.models import (
    CurrentStatus,
    DisagreementResolution,
    MinuteChange,
    Report,
    SafetyStatus,
    StatusChange,
    StatusCount,
    Submission,
)
from safety_check.subscriptions import service as subscriptions

#: reports this close in report time that say different things are a disagreement
DISAGREEMENT_WINDOW = timedelta(hours=2)
#: statuses that say the person is alive and not in need
FINE = frozenset(
    {
        SafetyStatus.SAFE,
        SafetyStatus.AT_SHELTER,
        SafetyStatus.BELIEVED_ALIVE,
        SafetyStatus.IS_NOTE_AUTHOR,
    }
)
#: statuses that say the person is in trouble (information_sought says nothing either way)
TROUBLE = frozenset(
    {
        SafetyStatus.INJURED,
        SafetyStatus.NEEDS_HELP,
        SafetyStatus.BELIEVED_MISSING,
        SafetyStatus.BELIEVED_DEAD,
    }
)


def minute_of(moment: datetime) -> int:
    """Whole minutes since 1970-01-01 UTC: the key of a minute of report time."""
    return int(moment.timestamp()) // 60


def moment_of(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def _claim(status: str) -> str | None:
    if status in FINE:
        return "fine"
    if status in TROUBLE:
        return "trouble"
    return None


def _neighbour(session: Session, report: Report, *, later: bool) -> Report | None:
    """The resident's report just before (or after) this one in report time, then id."""
    same = and_(
        Report.campaign_id == report.campaign_id,
        Report.resident_id == report.resident_id,
        Report.id != report.id,
    )
    if later:
        side = or_(
            Report.reported_at > report.reported_at,
            and_(Report.reported_at == report.reported_at, Report.id > report.id),
        )
        order = (Report.reported_at.asc(), Report.id.asc())
    else:
        side = or_(
            Report.reported_at < report.reported_at,
            and_(Report.reported_at == report.reported_at, Report.id < report.id),
        )
        order = (Report.reported_at.desc(), Report.id.desc())
    statement = select(Report).where(same, side).order_by(*order).limit(1)
    return session.execute(statement).scalar_one_or_none()


def _neighbours(
    session: Session, report: Report, current: CurrentStatus | None
) -> tuple[Report | CurrentStatus | None, Report | None]:
    """The resident's reports just before and just after `report` (their 町字, status and
    report time are what `apply` needs). Most reports are the resident's first or their
    latest, and the current row (the latest of the others) answers for those without
    reading the reports: no row, no other report; a later report time than the row's,
    the row's report comes just before and none after. Otherwise (a late report, or the
    same report time, ordered by id) both are read."""
    if current is None:  # the row comes with the resident's first report
        return None, None
    if report.reported_at > current.reported_at:
        return current, None
    return _neighbour(session, report, later=False), _neighbour(session, report, later=True)


def _resolved_since(session: Session, report: Report) -> datetime | None:
    """When the resident's disagreement was last resolved by staff, if ever."""
    return session.execute(
        select(DisagreementResolution.resolved_at)
        .where(
            DisagreementResolution.campaign_id == report.campaign_id,
            DisagreementResolution.resident_id == report.resident_id,
        )
        .order_by(DisagreementResolution.resolved_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _disagrees(session: Session, report: Report) -> bool:
    claim = _claim(report.status)
    if claim is None:
        return False
    statement = select(Report.status, Report.reporter_kind, Report.recorded_by).where(
        Report.campaign_id == report.campaign_id,
        Report.resident_id == report.resident_id,
        Report.id != report.id,
        Report.reported_at >= report.reported_at - DISAGREEMENT_WINDOW,
        Report.reported_at <= report.reported_at + DISAGREEMENT_WINDOW,
    )
    resolved_at = _resolved_since(session, report)
    if resolved_at is not None:
        # staff settled the reports before it: what they kept (their report, received at
        # the resolution's time) and what came since are what a new report may contradict
        statement = statement.where(Report.received_at >= resolved_at)
    rows = session.execute(statement)
    reporter = (report.reporter_kind, report.recorded_by)
    return any(
        _claim(status) not in (None, claim) and (kind, by) != reporter for status, kind, by in rows
    )


def current_row(session: Session, campaign_id: str, resident_id: str) -> CurrentStatus | None:
    statement = (
        select(CurrentStatus)
        .where(CurrentStatus.campaign_id == campaign_id, CurrentStatus.resident_id == resident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(statement).scalar_one_or_none()


def apply(session: Session, report: Report) -> None:
    """Bring the current status, the counts and the changes up to date with `report`, a new
    report already flushed in this session."""
    current = current_row(session, report.campaign_id, report.resident_id)
    before, after = _neighbours(session, report, current)

    changes: Counter[tuple[int, str, str]] = Counter()
    at = minute_of(report.reported_at)
    changes[(at, report.town_name, report.status)] += 1
    if before is not None:
        changes[(at, before.town_name, before.status)] -= 1
    if after is not None:
        # the next report used to follow `before` (or nothing); it now follows this one
        then = minute_of(after.reported_at)
        changes[(then, report.town_name, report.status)] -= 1
        if before is not None:
            changes[(then, before.town_name, before.status)] += 1

    counts: Counter[tuple[str, str]] = Counter()
    # the resident's first report: no other to disagree with
    disagreeing = current is not None and _disagrees(session, report)
    if current is None:
        session.add(
            CurrentStatus(
                campaign_id=report.campaign_id,
                resident_id=report.resident_id,
                report_id=report.id,
                status=report.status,
                reported_at=report.reported_at,
                town_name=report.town_name,
                reporter_kind=report.reporter_kind,
                reports=1,
                disagreeing=disagreeing,
            )
        )
        counts[(report.town_name, report.status)] += 1
    else:
        current.reports += 1
        if disagreeing and not current.disagreeing:
            current.disagreeing = True
        if after is None:  # the latest report time: it becomes the current status
            counts[(current.town_name, current.status)] -= 1
            counts[(report.town_name, report.status)] += 1
            current.report_id = report.id
            current.status = report.status
            current.reported_at = report.reported_at
            current.town_name = report.town_name
            current.reporter_kind = report.reporter_kind

    # each row read below is another key's (the counters add up per key), so none needs
    # the rows added before it flushed first: one flush for them all, at the end
    with session.no_autoflush:
        for (town, status), delta in sorted(counts.items()):
            if delta:
                _add_count(session, report.campaign_id, town, status, delta)
        minutes: Counter[tuple[int, str]] = Counter()
        for (minute, town, status), delta in sorted(changes.items()):
            if delta:
                _add_change(session, report.campaign_id, minute, town, status, delta)
                minutes[(minute, status)] += delta
        for (minute, status), delta in sorted(minutes.items()):
            if delta:  # a move between 町字 with the same status changes no total
                _add_minute_change(session, report.campaign_id, minute, status, delta)
    session.flush()
    if current is None or after is None:
        # the report is the resident's current status now: subscribers may be told (a job)
        subscriptions.status_changed(
            session, report.tenant_id, report.campaign_id, report.resident_id, report.id
        )


def _locked(model: type[StatusCount | StatusChange | MinuteChange], *keys: str) -> Any:
    """The statement that reads and locks one row of `model` by its key columns, built
    once: every report runs it several times."""
    columns = model.__table__.c
    return (
        select(model)
        .where(columns.campaign_id == bindparam("campaign_id"))
        .where(*(columns[key] == bindparam(key) for key in keys))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


_COUNT = _locked(StatusCount, "town_name", "status")
_CHANGE = _locked(StatusChange, "minute", "town_name", "status")
_MINUTE_CHANGE = _locked(MinuteChange, "minute", "status")


def _add_count(session: Session, campaign_id: str, town: str, status: str, delta: int) -> None:
    key = {"campaign_id": campaign_id, "town_name": town, "status": status}
    row = session.execute(_COUNT, key).scalar_one_or_none()
    if row is None:
        session.add(StatusCount(**key, residents=delta))
    else:
        row.residents += delta


def _add_change(
    session: Session, campaign_id: str, minute: int, town: str, status: str, delta: int
) -> None:
    key = {"campaign_id": campaign_id, "minute": minute, "town_name": town, "status": status}
    row = session.execute(_CHANGE, key).scalar_one_or_none()
    if row is None:
        session.add(StatusChange(**key, delta=delta))
    else:
        row.delta += delta


def _add_minute_change(
    session: Session, campaign_id: str, minute: int, status: str, delta: int
) -> None:
    key = {"campaign_id": campaign_id, "minute": minute, "status": status}
    row = session.execute(_MINUTE_CHANGE, key).scalar_one_or_none()
    if row is None:
        session.add(MinuteChange(**key, delta=delta))
    else:
        row.delta += delta


def purge(session: Session, campaign_id: str) -> int:
    """Delete a campaign's current rows, counts, changes (per 町字 and summed), form
    submissions and resolutions (a drill's purge), row by row so the change log carries each delete."""
    deleted = 0
    for model in (
        CurrentStatus,
        StatusCount,
        StatusChange,
        MinuteChange,
        Submission,
        DisagreementResolution,
    ):
        rows = session.execute(select(model).where(model.campaign_id == campaign_id)).scalars()
        for row in rows:
            session.delete(row)
            deleted += 1
    session.flush()
    return deleted
