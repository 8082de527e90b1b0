"""Staff views of a campaign: counts per district and over time, the response-rate curve, the
unconfirmed list, door-to-door visit lists, disagreeing reports.

Every view is staff-only (staff, auditor), so they read the registry as `Audience.STAFF`:
residents under a DV-support block are counted and listed, flagged, as the registry's
own staff search shows them. The counts read the rows that each report keeps up to date
in its own unit of work (`reports/current.py`): a few rows per district, not every
report. The registry's port calls run in their own transactions, so this unit of work
reads what it needs and ends its transaction before each of them (on SQLite a write
transaction holds the file's write lock from its first statement).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.campaigns import service as campaigns
from safety_check.campaigns.models import Campaign
from safety_check.reports import resolutions
from safety_check.reports import service as reports
from safety_check.reports.current import minute_of, moment_of
from safety_check.reports.models import (
    CurrentStatus,
    DisagreementResolution,
    MinuteChange,
    SafetyStatus,
    StatusChange,
    StatusCount,
)
from safety_check.reports.schemas import report_out
from safety_check.views.schemas import (
    CampaignCounts,
    DisagreementOut,
    DisagreementsOut,
    DisagreementState,
    DistrictCounts,
    RatePoint,
    ResponseRateOut,
    TimelineOut,
    TimelinePoint,
    UnconfirmedOut,
    UnconfirmedResident,
    VisitEntry,
    VisitListOut,
)
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import InvalidInput
from yui.service_ports import (
    AssistanceFacts,
    Audience,
    ResidentContact,
    ResidentDirectory,
    ResidentFacts,
)

#: a latest report with one of these confirms nothing about the person
UNCONFIRMED_STATUSES = frozenset({SafetyStatus.INFORMATION_SOUGHT, SafetyStatus.BELIEVED_MISSING})
#: the most points a curve answers (a week at ten-minute steps is 1008)
MAX_POINTS = 1500
#: how long the registry's residents per 町字 are reused by the counts before they are
#: counted again (they change by moves and births, not by the minute; the reports' counts
#: are always exact)
POPULATION_TTL_SECONDS = 30.0

log = logging.getLogger("yui.safety_check")


@dataclass
class _Population:
    at: float
    counts: dict[str, int]
    recounting: bool = False


#: per directory (one per site app), per tenant
_population_cache: weakref.WeakKeyDictionary[ResidentDirectory, dict[str, _Population]] = (
    weakref.WeakKeyDictionary()
)
_recount_lock = threading.Lock()


def population(directory: ResidentDirectory, tenant: str) -> dict[str, int]:
    """The registry's residents per 町字, counted at most every POPULATION_TTL_SECONDS per
    directory and tenant (a 1,000,000-resident count is the registry's full scan, seconds
    on SQLite). Only the first request waits for it: an older count is answered while a
    thread counts again, so no dashboard waits for the scan every 30 s."""
    cache = _population_cache.setdefault(directory, {})
    cached = cache.get(tenant)
    if cached is None:
        cached = _Population(
            time.monotonic(), directory.count_by_district(tenant, audience=Audience.STAFF)
        )
        cache[tenant] = cached
    elif time.monotonic() - cached.at > POPULATION_TTL_SECONDS:
        with _recount_lock:
            start, cached.recounting = not cached.recounting, True
        if start:
            threading.Thread(
                target=_recount,
                args=(directory, tenant, cache, cached),
                name=f"population-{tenant}",
                daemon=True,
            ).start()
    return cached.counts


def _recount(
    directory: ResidentDirectory, tenant: str, cache: dict[str, _Population], old: _Population
) -> None:
    try:
        counts = directory.count_by_district(tenant, audience=Audience.STAFF)
    except Exception:  # the older count stays; the next request tries again
        log.exception("residents per 町字 not counted again for tenant %s", tenant)
        old.recounting = False
        return
    cache[tenant] = _Population(time.monotonic(), counts)


def statuses_of(
    session: Session, campaign_id: str, resident_ids: Sequence[str]
) -> dict[str, SafetyStatus]:
    """The current status of each of these residents that has one."""
    if not resident_ids:
        return {}
    rows = session.execute(
        select(CurrentStatus.resident_id, CurrentStatus.status).where(
            CurrentStatus.campaign_id == campaign_id,
            CurrentStatus.resident_id.in_(list(resident_ids)),
        )
    )
    return {resident_id: SafetyStatus(value) for resident_id, value in rows}


def _waiting(status: SafetyStatus | None) -> bool:
    return status is None or status in UNCONFIRMED_STATUSES


def _district(town: str, residents: int, counts: Counter[SafetyStatus]) -> DistrictCounts:
    confirmed = sum(n for status, n in counts.items() if status not in UNCONFIRMED_STATUSES)
    return DistrictCounts(
        town_name=town,
        residents=residents,
        counts={status: n for status, n in sorted(counts.items()) if n},
        # a resident who moved district since their report counts where the report says
        unconfirmed=max(residents - confirmed, 0),
    )


def counts_by_district(
    uow: UnitOfWork, directory: ResidentDirectory, campaign_id: str, *, town: str = ""
) -> CampaignCounts:
    residents = population(directory, uow.tenant or "")
    campaign = campaigns.get(uow.session, campaign_id)
    statement = select(StatusCount.town_name, StatusCount.status, StatusCount.residents).where(
        StatusCount.campaign_id == campaign.id
    )
    if town:
        statement = statement.where(StatusCount.town_name == town)
        residents = {town: residents.get(town, 0)}
    by_town: defaultdict[str, Counter[SafetyStatus]] = defaultdict(Counter)
    for name, value, count in uow.session.execute(statement):
        by_town[name][SafetyStatus(value)] += count
    towns = sorted(
        set(residents) | {name for name, counts in by_town.items() if any(counts.values())}
    )
    total: Counter[SafetyStatus] = Counter()
    for counts in by_town.values():
        total.update(counts)
    return CampaignCounts(
        campaign_id=campaign.id,
        districts=[_district(name, residents.get(name, 0), by_town[name]) for name in towns],
        total=_district("", sum(residents.values()), total),
    )


def _steps(campaign: Campaign, interval: int) -> list[datetime]:
    """The ends of the curve's steps: from the campaign's first whole minute, every
    `interval` seconds, to now (or the close), the last one included."""
    if interval < 60 or interval % 60:
        raise InvalidInput(
            "間隔は 60 秒の倍数で指定してください / give the interval in whole minutes (seconds, a "
            "multiple of 60)"
        )
    start = moment_of(minute_of(campaign.opened_at))
    end = campaign.closed_at or campaigns.now()
    count = int((end - start).total_seconds() // interval) + 1
    if count > MAX_POINTS:
        raise InvalidInput(
            f"点が多すぎます（最大 {MAX_POINTS}）。間隔を広げてください / too many points "
            f"(at most {MAX_POINTS}): give a longer interval"
        )
    steps = [start + timedelta(seconds=interval * k) for k in range(1, count + 1)]
    if not steps or steps[-1] < end:
        steps.append(end)
    return steps


def _curve(
    session: Session, campaign: Campaign, steps: list[datetime], town: str
) -> list[Counter[SafetyStatus]]:
    """The counts by status as of each step (changes up to the step's minute).

    The whole campaign reads the changes already summed over the 町字 (`MinuteChange`:
    minutes x statuses rows); one 町字 reads its own changes (the town index)."""
    if town:
        statement = (
            select(StatusChange.minute, StatusChange.status, StatusChange.delta)
            .where(StatusChange.campaign_id == campaign.id, StatusChange.town_name == town)
            .order_by(StatusChange.minute)
        )
    else:
        statement = (
            select(MinuteChange.minute, MinuteChange.status, MinuteChange.delta)
            .where(MinuteChange.campaign_id == campaign.id)
            .order_by(MinuteChange.minute)
        )
    changes = list(session.execute(statement))
    running: Counter[SafetyStatus] = Counter()
    curve: list[Counter[SafetyStatus]] = []
    position = 0
    for step in steps:
        limit = minute_of(step)
        while position < len(changes) and changes[position][0] < limit:
            _, value, delta = changes[position]
            running[SafetyStatus(value)] += int(delta)
            position += 1
        curve.append(Counter({status: n for status, n in running.items() if n}))
    return curve


def timeline(uow: UnitOfWork, campaign_id: str, *, interval: int, town: str) -> TimelineOut:
    campaign = campaigns.get(uow.session, campaign_id)
    steps = _steps(campaign, interval)
    curve = _curve(uow.session, campaign, steps, town)
    return TimelineOut(
        campaign_id=campaign.id,
        town_name=town,
        interval_seconds=interval,
        points=[
            TimelinePoint(at=step, counts=dict(sorted(counts.items())))
            for step, counts in zip(steps, curve, strict=True)
        ],
    )


def response_rate(
    uow: UnitOfWork, directory: ResidentDirectory, campaign_id: str, *, interval: int, town: str
) -> ResponseRateOut:
    residents_by_town = population(directory, uow.tenant or "")
    residents = residents_by_town.get(town, 0) if town else sum(residents_by_town.values())
    campaign = campaigns.get(uow.session, campaign_id)
    steps = _steps(campaign, interval)
    points = []
    for step, counts in zip(steps, _curve(uow.session, campaign, steps, town), strict=True):
        reported = sum(counts.values())
        confirmed = sum(n for status, n in counts.items() if status not in UNCONFIRMED_STATUSES)
        points.append(
            RatePoint(
                at=step,
                reported=reported,
                confirmed=confirmed,
                reported_rate=round(reported / residents, 4) if residents else 0.0,
                confirmed_rate=round(confirmed / residents, 4) if residents else 0.0,
            )
        )
    return ResponseRateOut(
        campaign_id=campaign.id,
        town_name=town,
        residents=residents,
        interval_seconds=interval,
        points=points,
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


def _register(
    uow: UnitOfWork, directory: ResidentDirectory, campaign_id: str, *, actor: str, town: str
) -> list[tuple[AssistanceFacts, SafetyStatus | None]]:
    """The unconfirmed entries of the needs-assistance register, priority first."""
    register = [
        entry
        for entry in directory.needs_assistance(
            uow.tenant or "", audience=Audience.STAFF, actor=actor, disaster=True
        )
        if not town or entry.resident.town_name == town
    ]
    statuses = statuses_of(uow.session, campaign_id, [e.resident.resident_id for e in register])
    uow.session.rollback()  # read only so far: free the database before the next port call
    return [
        (entry, statuses.get(entry.resident.resident_id))
        for entry in register
        if _waiting(statuses.get(entry.resident.resident_id))
    ]


Item = TypeVar("Item")


def _pages_after(
    fetch: Callable[[str], Sequence[Item]], after: str, size: int, key: Callable[[Item], str]
) -> Iterator[Sequence[Item]]:
    """The registry's pages after ``after`` (keyset), fetched only as they are needed."""
    while True:
        page = fetch(after)
        yield page
        if len(page) < size:
            return
        after = key(page[-1])


def _pages_from(
    fetch: Callable[[int], Sequence[Item]], offset: int, size: int
) -> Iterator[Sequence[Item]]:
    """The registry's pages from ``offset`` on, fetched only as they are needed."""
    while True:
        page = fetch(offset)
        yield page
        if len(page) < size:
            return
        offset += len(page)


def _with_status(
    uow: UnitOfWork,
    campaign_id: str,
    pages: Iterator[Sequence[Item]],
    resident_of: Callable[[Item], ResidentFacts],
) -> Iterator[tuple[Item, SafetyStatus | None]]:
    """Each item of the pages, in order, with its resident's current status (None: none)."""
    for page in pages:
        ids = [resident_of(item).resident_id for item in page]
        statuses = statuses_of(uow.session, campaign_id, ids)
        uow.session.rollback()  # free the database before the registry's next call
        for item in page:
            yield item, statuses.get(resident_of(item).resident_id)


#: the unconfirmed list's cursor: in the needs-assistance register (an offset into it,
#: priority order), or in the rest of the roster (the last resident id listed)
REGISTER_CURSOR, ROSTER_CURSOR = "a:", "r:"
#: the register is read this many pages' worth at a time: each read sorts the whole
#: register (priority, then reading; ~0.7 s at 1,000,000 residents on a loaded machine)
#: whatever its size, and once most people have answered a page of unconfirmed entries
#: takes several pages of the register (four, with 72 % confirmed)
REGISTER_PART_PAGES = 5


def _register_offset(cursor: str) -> int:
    digits = cursor.removeprefix(REGISTER_CURSOR)
    if not digits:
        return 0
    if not digits.isdigit() or len(digits) > 9:
        raise InvalidInput("cursor が正しくありません / the cursor is not one this list gave")
    return int(digits)


def unconfirmed(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    *,
    actor: str,
    cursor: str,
    limit: int,
) -> UnconfirmedOut:
    """A page of at most ``limit`` unconfirmed residents: the needs-assistance register
    first (its priority order), then everyone else. Both are paged, so a first page stays
    small however long the register of a large town is."""
    tenant = uow.tenant or ""
    # its id kept: after the rollback, reading the campaign again would open a transaction
    campaign_id = campaigns.get(uow.session, campaign_id).id
    uow.session.rollback()  # read only so far: free the database before the registry's calls
    first: list[UnconfirmedResident] = []
    next_cursor: str | None = None
    after = ""
    if not cursor or cursor.startswith(REGISTER_CURSOR):
        # the register a part at a time (a town of 1,000,000 has ~50,000 entries): the
        # offset is the next entry to look at, whether listed or already confirmed
        offset = _register_offset(cursor)
        part = limit * REGISTER_PART_PAGES
        register = _pages_from(
            lambda at: directory.needs_assistance(
                tenant, audience=Audience.STAFF, actor=actor, disaster=True, offset=at, limit=part
            ),
            offset,
            part,
        )
        for entry, status in _with_status(uow, campaign_id, register, lambda e: e.resident):
            offset += 1
            if _waiting(status):
                first.append(_listed(entry.resident, status, entry))
                if len(first) == limit:  # more of the register, or the roster, on the next
                    next_cursor = f"{REGISTER_CURSOR}{offset}"
                    break
    else:  # a bare resident id: a cursor given before the register was paged
        after = cursor.removeprefix(ROSTER_CURSOR)
    rest: list[UnconfirmedResident] = []
    room = limit - len(first)
    if next_cursor is None and room > 0:  # the register is done: the roster fills the page
        roster = _pages_after(
            lambda at: directory.roster(
                tenant, audience=Audience.STAFF, actor=actor, after=at, limit=limit
            ),
            after,
            limit,
            lambda facts: facts.resident_id,
        )
        for facts, status in _with_status(uow, campaign_id, roster, lambda facts: facts):
            if not facts.needs_assistance and _waiting(status):
                rest.append(_listed(facts, status, None))
                if len(rest) == room:
                    next_cursor = ROSTER_CURSOR + facts.resident_id
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


def _visit(
    contact: ResidentContact, status: SafetyStatus | None, priority: int | None
) -> VisitEntry:
    facts = contact.resident
    return VisitEntry(
        resident_id=facts.resident_id,
        family_name=facts.family_name,
        given_name=facts.given_name,
        family_kana=facts.family_kana,
        given_kana=facts.given_kana,
        birth_date=facts.birth_date,
        town_name=facts.town_name,
        address=contact.address,
        phone=contact.phone,
        needs_assistance=facts.needs_assistance,
        priority=priority,
        dv_block=facts.dv_block,
        status=status,
    )


def visits(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    *,
    town: str,
    actor: str,
    cursor: str,
    limit: int,
) -> VisitListOut:
    """A door-to-door visit list of one 町字: its unconfirmed residents with address and
    phone, the needs-assistance register's (priority order) on the first page, then the
    others `limit` at a time (resident-id order)."""
    if not town:
        raise InvalidInput("町字を指定してください / give a district (town)")
    tenant = uow.tenant or ""
    campaign = campaigns.get(uow.session, campaign_id)
    # kept: after the rollback, reading the campaign again would open a transaction
    campaign_id, title = campaign.id, campaign.title
    uow.session.rollback()  # read only so far: free the database before the registry's calls
    first: list[VisitEntry] = []
    if not cursor:
        for entry, status in _register(uow, directory, campaign_id, actor=actor, town=town):
            contact = ResidentContact(entry.resident, entry.address, entry.phone)
            first.append(_visit(contact, status, entry.priority))
    rest: list[VisitEntry] = []
    next_cursor = None
    contacts = _pages_after(
        lambda at: directory.district_contacts(
            tenant, town, audience=Audience.STAFF, actor=actor, after=at, limit=limit
        ),
        cursor,
        limit,
        lambda contact: contact.resident.resident_id,
    )
    for contact, status in _with_status(uow, campaign_id, contacts, lambda c: c.resident):
        if not contact.resident.needs_assistance and _waiting(status):
            rest.append(_visit(contact, status, None))
            if len(rest) == limit:
                next_cursor = contact.resident.resident_id
                break
    listed = [item.resident_id for item in first + rest]
    audit.record(
        uow.session,
        actor=actor,
        action="safety.visit_list",
        subject_type="resident",
        detail={
            "campaign": campaign_id,
            "town": town,
            "results": listed[:200],
            "count": len(listed),
        },
    )
    return VisitListOut(
        campaign_id=campaign_id,
        campaign_title=title,
        town_name=town,
        needs_assistance=first,
        residents=rest,
        next_cursor=next_cursor,
    )


def disagreements(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    *,
    actor: str,
    town: str,
    cursor: str,
    limit: int,
    state: DisagreementState = DisagreementState.OPEN,
) -> DisagreementsOut:
    """Residents whose reports disagree (two reporters within two hours, one fine, one in
    trouble) and no staff resolution settled it since (`state` open), or whose disagreement
    staff resolved (`state` resolved), in resident-id order, each with the reports of the
    campaign and the latest resolution."""
    campaign = campaigns.get(uow.session, campaign_id)
    statement = (
        select(CurrentStatus.resident_id)
        .where(
            CurrentStatus.campaign_id == campaign.id,
            CurrentStatus.disagreeing.is_(state == DisagreementState.OPEN),
            CurrentStatus.resident_id > cursor,
        )
        .order_by(CurrentStatus.resident_id)
        .limit(limit + 1)
    )
    if state == DisagreementState.RESOLVED:
        statement = statement.where(
            select(DisagreementResolution.id)
            .where(
                DisagreementResolution.campaign_id == CurrentStatus.campaign_id,
                DisagreementResolution.resident_id == CurrentStatus.resident_id,
            )
            .exists()
        )
    if town:
        statement = statement.where(CurrentStatus.town_name == town)
    ids = list(uow.session.execute(statement).scalars())
    next_cursor = ids[limit - 1] if len(ids) > limit else None
    ids = ids[:limit]
    histories = {
        rid: [report_out(item) for item in reports.history(uow.session, campaign.id, rid)]
        for rid in ids
    }
    settled = {
        rid: resolutions.resolution_out(row)
        for rid, row in resolutions.latest_of(uow.session, campaign.id, ids).items()
    }
    campaign_id = campaign.id
    uow.session.rollback()  # read only so far: free the database before the registry's calls
    found: list[DisagreementOut] = []
    for resident_id in ids:
        facts = directory.lookup(
            uow.tenant or "", resident_id, audience=Audience.STAFF, actor=actor
        )
        found.append(
            DisagreementOut(
                resident_id=resident_id,
                family_name=facts.family_name if facts else "",
                given_name=facts.given_name if facts else "",
                town_name=facts.town_name if facts else "",
                needs_assistance=facts.needs_assistance if facts else False,
                # a resident who has left the register since is listed by id only
                registered=facts is not None,
                dv_block=facts.dv_block if facts else False,
                reports=histories[resident_id],
                resolution=settled.get(resident_id),
            )
        )
    audit.record(
        uow.session,
        actor=actor,
        action="safety.disagreements",
        subject_type="resident",
        detail={
            "campaign": campaign_id,
            "state": state.value,
            "results": ids[:200],
            "count": len(ids),
        },
    )
    return DisagreementsOut(
        campaign_id=campaign_id, state=state, residents=found, next_cursor=next_cursor
    )
