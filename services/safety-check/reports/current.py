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
`apply`, so every writer of these rows queues there first: one writer of a tenant's rows at
a time, reading what the writer before it committed (on PostgreSQL each statement of a READ
COMMITTED transaction sees what committed before it). The resident's row is also locked
when read; the counts, changes and minute changes are read together, by one statement
without a row lock of its own (PostgreSQL refuses one on the nullable side of an outer
join; the audit head already orders their writers), and flushed with the report's rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from safety_check.campaigns.models import Campaign
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

#: a count, change or minute-change row's key (its columns but the campaign)
Key = TypeVar("Key", bound=tuple[Any, ...])

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


#: the resident's latest resolution by staff, if any
_RESOLVED_AT = (
    select(func.max(DisagreementResolution.resolved_at))
    .where(
        DisagreementResolution.campaign_id == bindparam("campaign_id"),
        DisagreementResolution.resident_id == bindparam("resident_id"),
    )
    .scalar_subquery()
)
#: the resident's other reports close in report time, of those that can still disagree:
#: once staff settled the reports before it, what they kept (their report, received at the
#: resolution's time) and what came since (built once: a resident's every later report asks)
_CLOSE_REPORTS = select(Report.status, Report.reporter_kind, Report.recorded_by).where(
    Report.campaign_id == bindparam("campaign_id"),
    Report.resident_id == bindparam("resident_id"),
    Report.id != bindparam("report_id"),
    Report.reported_at >= bindparam("earliest", type_=Report.reported_at.type),
    Report.reported_at <= bindparam("latest", type_=Report.reported_at.type),
    or_(_RESOLVED_AT.is_(None), Report.received_at >= _RESOLVED_AT),
)


def _disagrees(session: Session, report: Report) -> bool:
    claim = _claim(report.status)
    if claim is None:
        return False
    rows = session.execute(
        _CLOSE_REPORTS,
        {
            "campaign_id": report.campaign_id,
            "resident_id": report.resident_id,
            "report_id": report.id,
            "earliest": report.reported_at - DISAGREEMENT_WINDOW,
            "latest": report.reported_at + DISAGREEMENT_WINDOW,
        },
    )
    reporter = (report.reporter_kind, report.recorded_by)
    return any(
        _claim(status) not in (None, claim) and (kind, by) != reporter for status, kind, by in rows
    )


#: built once: every report reads its resident's row
_CURRENT = (
    select(CurrentStatus)
    .where(
        CurrentStatus.campaign_id == bindparam("campaign_id"),
        CurrentStatus.resident_id == bindparam("resident_id"),
    )
    .with_for_update()
    .execution_options(populate_existing=True)
)


def current_row(session: Session, campaign_id: str, resident_id: str) -> CurrentStatus | None:
    params = {"campaign_id": campaign_id, "resident_id": resident_id}
    return session.execute(_CURRENT, params).scalar_one_or_none()


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

    minutes: Counter[tuple[int, str]] = Counter()
    for (minute, _town, status), delta in changes.items():
        minutes[(minute, status)] += delta  # a move between 町字 with the same status: 0
    _add_deltas(
        session,
        report.campaign_id,
        {key: delta for key, delta in counts.items() if delta},
        {key: delta for key, delta in changes.items() if delta},
        {key: delta for key, delta in minutes.items() if delta},
    )
    session.flush()
    if current is None or after is None:
        # the report is the resident's current status now: subscribers may be told (a job)
        subscriptions.status_changed(
            session, report.tenant_id, report.campaign_id, report.resident_id, report.id
        )


def _any_key(
    model: type[StatusCount | StatusChange | MinuteChange],
    keys: tuple[str, ...],
    n: int,
    prefix: str,
) -> Any:
    """`model`'s rows of the campaign whose key is one of `n` keys (bound parameters
    prefix_0_town_name, ...)."""
    columns = model.__table__.c
    return or_(
        *(
            and_(*(columns[key] == bindparam(f"{prefix}_{i}_{key}") for key in keys))
            for i in range(n)
        )
    )


_COUNT_KEY = ("town_name", "status")
_CHANGE_KEY = ("minute", "town_name", "status")
_MINUTE_KEY = ("minute", "status")
#: the statements of `_add_deltas`, by how many keys of each kind they read
_READS: dict[tuple[int, int, int], Any] = {}


def _reads(counts: int, changes: int, minutes: int) -> Any:
    """One statement that reads the count, change and minute-change rows a report changes
    (each kind outer-joined to the campaign's row: one row, or a few when a kind has more
    than one key), built once per shape: a report changes one to four rows of each kind."""
    shape = (counts, changes, minutes)
    statement = _READS.get(shape)
    if statement is None:
        statement = (
            select(StatusCount, StatusChange, MinuteChange)
            .select_from(Campaign)
            .outerjoin(
                StatusCount,
                and_(
                    StatusCount.campaign_id == Campaign.id,
                    _any_key(StatusCount, _COUNT_KEY, counts, "count"),
                ),
            )
            .outerjoin(
                StatusChange,
                and_(
                    StatusChange.campaign_id == Campaign.id,
                    _any_key(StatusChange, _CHANGE_KEY, changes, "change"),
                ),
            )
            .outerjoin(
                MinuteChange,
                and_(
                    MinuteChange.campaign_id == Campaign.id,
                    _any_key(MinuteChange, _MINUTE_KEY, minutes, "minute"),
                ),
            )
            .where(Campaign.id == bindparam("campaign_id"))
            # the rows as they are now, not copies an earlier transaction of this session read
            .execution_options(populate_existing=True)
        )
        _READS[shape] = statement
    return statement


def _params(prefix: str, names: tuple[str, ...], keys: list[tuple[Any, ...]]) -> dict[str, Any]:
    return {
        f"{prefix}_{i}_{name}": value
        for i, key in enumerate(keys)
        for name, value in zip(names, key, strict=True)
    }


def _add_deltas(
    session: Session,
    campaign_id: str,
    counts: dict[tuple[str, str], int],
    changes: dict[tuple[int, str, str], int],
    minutes: dict[tuple[int, str], int],
) -> None:
    """Add the deltas to the count, change and minute-change rows, inserting those that do
    not exist yet. The rows are read by one statement, with no row lock of their own: every
    writer of them holds the tenant's audit head first (see the module's docstring), and on
    PostgreSQL a row lock on the nullable side of an outer join is refused anyway."""
    if not (counts or changes or minutes):
        return
    count_keys, change_keys, minute_keys = sorted(counts), sorted(changes), sorted(minutes)
    # a kind with no key reads no row: its join condition names one key no row has
    statement = _reads(max(len(count_keys), 1), max(len(change_keys), 1), max(len(minute_keys), 1))
    params = {
        "campaign_id": campaign_id,
        **_params("count", _COUNT_KEY, count_keys or [("", "")]),
        **_params("change", _CHANGE_KEY, change_keys or [(-1, "", "")]),
        **_params("minute", _MINUTE_KEY, minute_keys or [(-1, "")]),
    }
    found_counts: dict[tuple[str, str], StatusCount] = {}
    found_changes: dict[tuple[int, str, str], StatusChange] = {}
    found_minutes: dict[tuple[int, str], MinuteChange] = {}
    with session.no_autoflush:  # the report's rows are flushed; what is pending can wait
        for count, change, minute in session.execute(statement, params):
            if count is not None:
                found_counts[(count.town_name, count.status)] = count
            if change is not None:
                found_changes[(change.minute, change.town_name, change.status)] = change
            if minute is not None:
                found_minutes[(minute.minute, minute.status)] = minute
    _add_to_rows(
        session,
        found_counts,
        counts,
        lambda key, delta: StatusCount(
            campaign_id=campaign_id, town_name=key[0], status=key[1], residents=delta
        ),
        "residents",
    )
    _add_to_rows(
        session,
        found_changes,
        changes,
        lambda key, delta: StatusChange(
            campaign_id=campaign_id, minute=key[0], town_name=key[1], status=key[2], delta=delta
        ),
        "delta",
    )
    _add_to_rows(
        session,
        found_minutes,
        minutes,
        lambda key, delta: MinuteChange(
            campaign_id=campaign_id, minute=key[0], status=key[1], delta=delta
        ),
        "delta",
    )


def _add_to_rows(
    session: Session,
    found: Mapping[Key, Any],
    deltas: Mapping[Key, int],
    new_row: Callable[[Key, int], Any],
    column: str,
) -> None:
    """Add each delta to its row's `column`, in key order; a key with no row yet gets
    one (`new_row`)."""
    for key, delta in sorted(deltas.items()):
        row = found.get(key)
        if row is None:
            session.add(new_row(key, delta))
        else:
            setattr(row, column, getattr(row, column) + delta)


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
