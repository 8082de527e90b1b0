"""The fan-out: plan a round of messages and send it as a background job.

- `start` (staff, or an alert's campaign when it opens): reads everyone in scope through
  the kernel's `ResidentDirectory` port — the needs-assistance register first, in its
  priority order, then every other registered resident — and, in one unit of work,
  writes the plan (one `OutreachMessage` per reachable person, cut into batches) and
  enqueues the job that sends it. Port calls come before the unit of work touches the
  database (their own transactions; see reports/service.py).
- The job (`KIND`) has one external step per batch. Each message is fenced right before
  it is sent and carries the step's effect key plus the resident as its idempotency key
  and the step's epoch: a batch interrupted by a failover is sent again by the new
  primary with the same keys, and the receiver keeps one message per key. Nobody is
  messaged twice (the receiver deduplicates), nobody skipped (the plan and the job's
  recorded steps replicate together; the step not recorded is sent again whole).
- Reminders (`remind_due`, the scheduled job `REMINDERS`): for every open campaign whose
  next reminder time has come, a new round to the people of round 0 with no report yet.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from safety_check.campaigns import service as campaigns
from safety_check.campaigns.models import Campaign, CampaignOrigin, CampaignState
from safety_check.channels.base import ChannelError, Message, Refused, Sender
from safety_check.links.service import LinkMaker
from safety_check.outreach.models import OutreachMessage, OutreachRound
from safety_check.outreach.texts import compose
from safety_check.reports.models import Report
from yui.audit import service as audit
from yui.changelog.bulk_insert import insert_rows
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, InvalidInput, NotFound
from yui.jobs import service as jobs
from yui.jobs.kinds import JobKind, Step, StepContext
from yui.service_ports import Audience, ReachableResident, ResidentDirectory

KIND = "safety-outreach"
REMINDERS = "safety-reminders"
STARTS = "safety-outreach-start"
#: the channels in the order a person is reached when they have several addresses
CHANNEL_ORDER = ("email", "webhook")
ROSTER_PAGE = 1000
#: refusals kept in a step's result (the rest are counted)
REFUSALS_KEPT = 50


@dataclass(frozen=True)
class Planned:
    round: int
    job_id: str
    messages: int
    batches: int
    unreachable: int


@dataclass(frozen=True)
class Person:
    resident_id: str
    language: str
    needs_assistance: bool
    addresses: Mapping[str, str]


def address_of(person: Person, channels: Sequence[str]) -> tuple[str, str] | None:
    """The channel and address a person is reached at: the first channel this site
    has for which the registry holds an address (e-mail, then a phone for SMS)."""
    for channel in CHANNEL_ORDER:
        if channel in channels and person.addresses.get(channel):
            return channel, person.addresses[channel]
    return None


def _person(contact: ReachableResident, needs_assistance: bool) -> Person:
    facts = contact.resident
    return Person(
        facts.resident_id,
        facts.language,
        needs_assistance,
        {"email": contact.email, "webhook": contact.phone},
    )


def people_in_scope(directory: ResidentDirectory, tenant: str, *, actor: str) -> list[Person]:
    """Everyone registered, the needs-assistance register first in its priority order.
    Read as staff: the municipality reaches every resident at their own address (a
    DV-support block hides a person from others, not from the municipality's message)."""
    register = directory.needs_assistance(
        tenant, audience=Audience.STAFF, actor=actor, disaster=True
    )
    first = {entry.resident.resident_id: index for index, entry in enumerate(register)}
    assisted: list[Person | None] = [None] * len(register)
    others: list[Person] = []
    after = ""
    while True:
        page = directory.reachable_roster(
            tenant, audience=Audience.STAFF, actor=actor, after=after, limit=ROSTER_PAGE
        )
        for contact in page:
            index = first.get(contact.resident.resident_id)
            if index is None:
                others.append(_person(contact, False))
            else:
                assisted[index] = _person(contact, True)
        if len(page) < ROSTER_PAGE:
            break
        after = page[-1].resident.resident_id
    return [person for person in assisted if person is not None] + others


def _plan_round(
    session: Session,
    tenant: str,
    campaign: Campaign,
    number: int,
    people: Sequence[Person],
    *,
    channels: Sequence[str],
    batch_size: int,
    actor: str,
    reminder_minutes: Sequence[int] = (),
) -> Planned:
    rows: list[dict[str, Any]] = []
    unreachable = 0
    for person in people:
        reached = address_of(person, channels)
        if reached is None:
            unreachable += 1
            continue
        position = len(rows)
        rows.append(
            {
                "campaign_id": campaign.id,
                "round": number,
                "batch": position // batch_size,
                "position": position,
                "resident_id": person.resident_id,
                "channel": reached[0],
                "address": reached[1],
                "language": person.language,
                "needs_assistance": person.needs_assistance,
            }
        )
    batches = math.ceil(len(rows) / batch_size)
    job = jobs.enqueue(
        _Unit(session, tenant),  # type: ignore[arg-type]
        tenant,
        KIND,
        {"campaign_id": campaign.id, "round": number, "batches": batches},
    )
    session.add(
        OutreachRound(
            campaign_id=campaign.id,
            round=number,
            job_id=str(job.id),
            planned_at=campaigns.now(),
            planned_by=actor,
            messages=len(rows),
            batches=batches,
            unreachable=unreachable,
            reminder_minutes=list(reminder_minutes),
        )
    )
    session.flush()
    for start in range(0, len(rows), 5000):
        insert_rows(session, OutreachMessage, rows[start : start + 5000])
    audit.record(
        session,
        actor=actor,
        action="safety.outreach",
        subject_type="campaign",
        subject_id=campaign.id,
        detail={"round": number, "messages": len(rows), "unreachable": unreachable},
    )
    return Planned(number, str(job.id), len(rows), batches, unreachable)


class _Unit:
    """The part of a unit of work `jobs.enqueue` uses, around a job step's session."""

    def __init__(self, session: Session, tenant: str) -> None:
        self.session, self.tenant = session, tenant


def start(
    db: Database,
    directory: ResidentDirectory,
    tenant: str,
    campaign_id: str,
    *,
    actor: str,
    channels: Sequence[str],
    batch_size: int,
    reminder_minutes: Sequence[int],
) -> Planned:
    """Plan the first round of the campaign and enqueue its job (409 if it has one)."""
    if not channels:
        raise Conflict(
            "このサイトには送信経路がありません（YUI_SAFETY_SMTP_HOST など） / this site has no "
            "channel to send through (YUI_SAFETY_SMTP_HOST, YUI_SAFETY_WEBHOOK_URL)"
        )
    with db.unit_of_work(tenant, read_only=True) as uow:
        _sendable(campaigns.get(uow.session, campaign_id))
    people = people_in_scope(directory, tenant, actor=actor)
    with db.unit_of_work(tenant) as uow:
        # The tenant's audit head first: a second start of the campaign (a double click,
        # another staff member, the alert's starter) waits here for the first to commit
        # and then finds its round (409). Before, on PostgreSQL, both found none and the
        # second failed on the rounds' unique index (500).
        audit.hold(uow.session)
        campaign = _sendable(campaigns.get(uow.session, campaign_id))
        if _rounds(uow.session, campaign.id):
            raise Conflict(
                "この安否確認の一斉送信は開始済みです / this campaign's messages were already sent"
            )
        planned = _plan_round(
            uow.session,
            tenant,
            campaign,
            0,
            people,
            channels=channels,
            batch_size=batch_size,
            actor=actor,
            reminder_minutes=sorted(set(reminder_minutes)),
        )
        uow.commit()
        return planned


def _sendable(campaign: Campaign) -> Campaign:
    if campaign.closed_at is not None or campaign.state != CampaignState.OPEN:
        raise Conflict(
            "受付中でない安否確認には送信できません / the campaign is not open: nothing is sent"
        )
    return campaign


def _rounds(session: Session, campaign_id: str) -> list[OutreachRound]:
    return list(
        session.execute(
            select(OutreachRound)
            .where(OutreachRound.campaign_id == campaign_id)
            .order_by(OutreachRound.round)
        ).scalars()
    )


def rounds(uow: UnitOfWork, campaign_id: str) -> list[OutreachRound]:
    campaigns.get(uow.session, campaign_id)
    return _rounds(uow.session, campaign_id)


# --------------------------------------------------------------------------- alerts' campaigns


def _waiting_alert_campaigns(session: Session) -> list[Campaign]:
    """Campaigns an alert opened that are open now (the false-alarm hold ended, or staff
    sent at once) and have no first round yet."""
    started = exists().where(OutreachRound.campaign_id == Campaign.id)
    return list(
        session.execute(
            select(Campaign).where(
                Campaign.origin == CampaignOrigin.ALERT,
                Campaign.state == CampaignState.OPEN,
                Campaign.closed_at.is_(None),
                ~started,
            )
        ).scalars()
    )


def starts_due(db: Database, tenant: str) -> bool:
    """Whether an alert's campaign waits for its first round (the dispatcher asks)."""
    with db.unit_of_work(tenant, read_only=True) as uow:
        return bool(_waiting_alert_campaigns(uow.session))


def start_alert_campaigns(
    db: Database,
    directory: ResidentDirectory,
    tenant: str,
    *,
    channels: Sequence[str],
    batch_size: int,
    reminder_minutes: Sequence[int],
) -> list[Planned]:
    """The first round of every alert's campaign that has just opened. Safe to run again
    (a job step that is interrupted is): a campaign that has its round is skipped."""
    with db.unit_of_work(tenant, read_only=True) as uow:
        waiting = [campaign.id for campaign in _waiting_alert_campaigns(uow.session)]
    planned = []
    for campaign_id in waiting:
        try:
            planned.append(
                start(
                    db,
                    directory,
                    tenant,
                    campaign_id,
                    actor="system:alert",
                    channels=channels,
                    batch_size=batch_size,
                    reminder_minutes=reminder_minutes,
                )
            )
        except Conflict:  # started meanwhile, or closed: nothing to do
            continue
    return planned


# --------------------------------------------------------------------------- reminders


def non_responders(session: Session, campaign_id: str) -> list[Person]:
    """The people of round 0 with no report in the campaign (from anyone), in round 0's
    order: a staff call or a shelter check-in counts as an answer."""
    answered = exists().where(
        Report.campaign_id == OutreachMessage.campaign_id,
        Report.resident_id == OutreachMessage.resident_id,
    )
    rows = session.execute(
        select(OutreachMessage)
        .where(OutreachMessage.campaign_id == campaign_id, OutreachMessage.round == 0, ~answered)
        .order_by(OutreachMessage.position)
    ).scalars()
    return [
        Person(row.resident_id, row.language, row.needs_assistance, {row.channel: row.address})
        for row in rows
    ]


def _reminders_due(session: Session, now: datetime) -> list[tuple[Campaign, int]]:
    """The open campaigns whose next reminder time has come, with that round's number."""
    due = []
    for first in session.execute(select(OutreachRound).where(OutreachRound.round == 0)).scalars():
        campaign = campaigns.get(session, first.campaign_id)
        if campaign.closed_at is not None:
            continue
        done = session.execute(
            select(func.max(OutreachRound.round)).where(OutreachRound.campaign_id == campaign.id)
        ).scalar_one()
        if done < len(first.reminder_minutes) and (
            first.planned_at + timedelta(minutes=first.reminder_minutes[done]) <= now
        ):
            due.append((campaign, done + 1))
    return due


def reminders_due(db: Database, tenant: str) -> bool:
    """Whether a reminder round is due for the tenant (the dispatcher asks; a read)."""
    with db.unit_of_work(tenant, read_only=True) as uow:
        return bool(_reminders_due(uow.session, campaigns.now()))


def remind_due(
    session: Session, tenant: str, *, now: datetime, channels: Sequence[str], batch_size: int
) -> list[Planned]:
    """A reminder round for every open campaign whose next reminder time has come."""
    return [
        _plan_round(
            session,
            tenant,
            campaign,
            number,
            non_responders(session, campaign.id),
            channels=channels,
            batch_size=batch_size,
            actor="safety-reminders",
        )
        for campaign, number in _reminders_due(session, now)
    ]


# --------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class Outreach:
    """What the worker's steps need, built by the composition root."""

    senders: Mapping[str, Sender]
    links: LinkMaker
    threads: int = 8
    batch_size: int = 500
    reminder_minutes: Sequence[int] = ()


def send_batch(outreach: Outreach, context: StepContext, batch: int) -> dict[str, Any]:
    """Send one batch (an external step: it may run again, with the same keys)."""
    campaign_id, number = str(context.params["campaign_id"]), int(context.params["round"])
    with context.db.unit_of_work(context.tenant, read_only=True) as uow:
        try:
            title = campaigns.get(uow.session, campaign_id).title
        except NotFound:  # a drill purged meanwhile: nothing left to send
            return {"batch": batch, "sent": 0, "refused": 0, "refusals": [], "purged": True}
        rows = list(
            uow.session.execute(
                select(OutreachMessage)
                .where(
                    OutreachMessage.campaign_id == campaign_id,
                    OutreachMessage.round == number,
                    OutreachMessage.batch == batch,
                )
                .order_by(OutreachMessage.position)
            ).scalars()
        )
    stop = threading.Event()
    refused: list[dict[str, str]] = []
    lock = threading.Lock()

    def one(row: OutreachMessage) -> None:
        if stop.is_set():
            return
        sender = outreach.senders.get(row.channel)
        if sender is None:
            raise ChannelError(
                f"このサイトに経路 {row.channel} はありません / no channel {row.channel}"
            )
        link = outreach.links.link(context.tenant, campaign_id, row.resident_id)
        subject, text = compose(title, link, reminder=number > 0)
        message = Message(
            tenant=context.tenant,
            to=row.address,
            subject=subject,
            text=text,
            key=f"{context.effect_key}:{row.resident_id}",
            epoch=context.epoch,
            link=link,
            language=row.language,
        )
        context.fence()  # right before the effect: still this site's, same epoch
        try:
            sender.send(message)
        except Refused as refusal:
            with lock:
                refused.append({"resident": row.resident_id, "reason": refusal.detail[:200]})

    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=outreach.threads) as pool:
        for future in [pool.submit(one, row) for row in rows]:
            try:
                future.result()
            except BaseException as error:  # the first failure stops the others' sends
                stop.set()
                errors.append(error)
    fenced = [error for error in errors if isinstance(error, NotPrimary)]
    if fenced or errors:
        raise (fenced or errors)[0]
    return {
        "batch": batch,
        "sent": len(rows) - len(refused),
        "refused": len(refused),
        "refusals": refused[:REFUSALS_KEPT],
    }


def _check(params: dict[str, Any]) -> None:
    if not isinstance(params.get("campaign_id"), str):
        raise InvalidInput("campaign_id")
    for name in ("round", "batches"):
        if not isinstance(params.get(name), int) or params[name] < 0:
            raise InvalidInput(name)


def outreach_kind(outreach: Outreach) -> JobKind:
    def steps(params: dict[str, Any]) -> list[Step]:
        return [
            Step(f"batch-{batch}", _sender_of(outreach, batch), external=True)
            for batch in range(int(params.get("batches", 0)))
        ]

    return JobKind(KIND, steps=steps, check=_check)


def _sender_of(outreach: Outreach, batch: int) -> Callable[[StepContext], dict[str, Any]]:
    return lambda context: send_batch(outreach, context, batch)


def reminders_kind(outreach: Outreach, now: Callable[[], datetime] = campaigns.now) -> JobKind:
    """The scheduled job that plans the reminders due (one database step)."""

    def plan(context: StepContext) -> dict[str, Any]:
        planned = remind_due(
            context.rows(),
            context.tenant,
            now=now(),
            channels=list(outreach.senders),
            batch_size=outreach.batch_size,
        )
        return {
            "rounds": [{"round": p.round, "job": p.job_id, "messages": p.messages} for p in planned]
        }

    return JobKind(REMINDERS, steps=lambda _params: [Step("plan-reminders", plan)])


def starter_kind(outreach: Outreach, directory: Callable[[Database], ResidentDirectory]) -> JobKind:
    """The scheduled job that starts the fan-out of alerts' campaigns once they open. Its
    step is external: it reads the registry through the port (own transactions) before
    its unit of work writes the plan, which a database step could not do."""

    def run(context: StepContext) -> dict[str, Any]:
        planned = start_alert_campaigns(
            context.db,
            directory(context.db),
            context.tenant,
            channels=list(outreach.senders),
            batch_size=outreach.batch_size,
            reminder_minutes=outreach.reminder_minutes,
        )
        return {"started": [{"job": p.job_id, "messages": p.messages} for p in planned]}

    return JobKind(
        STARTS, steps=lambda _params: [Step("start-alert-campaigns", run, external=True)]
    )
