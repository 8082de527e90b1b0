"""Subscribing, confirming, ending; and the job enqueued when a status changes.

Subscribing answers the same whether or not anyone matched (the search already says
who matches; the answer to a subscription adds nothing): a DV-blocked resident, a
former resident, a namesake born another day or nobody at all all look alike. A match
gets a pending subscription and a confirmation e-mail (a job); nothing else is sent
before the link in it is followed. Sending is never inline: a status change enqueues
one job in the unit of work that recorded the report, so the job exists exactly when
the report does, at the primary, and survives a failover.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from safety_check.campaigns.models import Campaign, CampaignKind
from safety_check.search import service as search
from safety_check.subscriptions import tokens
from safety_check.subscriptions.models import Subscription
from yui.audit import service as audit
from yui.auth.tokens import SigningKeys
from yui.db.database import Database
from yui.db.unit_of_work import UnitOfWork
from yui.errors import NotFound
from yui.jobs import service as jobs
from yui.service_ports import ResidentDirectory

CONFIRM = "safety.subscription_confirm"
NOTIFY = "safety.subscription_notify"


class _Unit:
    """The part of a unit of work `jobs.enqueue` uses, around a session already open."""

    def __init__(self, session: Session, tenant: str) -> None:
        self.session, self.tenant = session, tenant


def _enqueue(session: Session, tenant: str, kind: str, params: dict[str, Any]) -> None:
    jobs.enqueue(_Unit(session, tenant), tenant, kind, params)  # type: ignore[arg-type]


def subscribe(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    db: Database,
    name: str,
    birth_date: date,
    email: str,
    *,
    client: str,
) -> None:
    tenant = uow.tenant or ""
    actor = f"public:{client}"
    campaigns, residents = search.matching_residents(
        db, directory, tenant, name, birth_date, actor=actor
    )
    if not campaigns or not residents:
        return  # nothing written, nothing told: the answer is the same as for a match
    session = uow.session
    # The tenant's audit head first: the same request twice at once (a double tap) waits
    # here for the first to commit and then finds its subscription. Before, on
    # PostgreSQL, both found none and the second failed on the unique constraint (500,
    # and only when someone matched).
    audit.hold(session)
    campaign_id = campaigns[0]  # the newest open live campaign
    created: list[str] = []
    for facts in residents:
        stored = stored_subscription(session, campaign_id, facts.resident_id, email)
        if stored is not None and stored.confirmed_at is not None:
            continue
        if stored is None:
            stored = Subscription(
                campaign_id=campaign_id,
                resident_id=facts.resident_id,
                email=email,
                created_at=datetime.now(UTC),
            )
            session.add(stored)
            session.flush()
        # a pending one asked again: the confirmation is sent again (limits bound it)
        _enqueue(session, tenant, CONFIRM, {"subscription_id": stored.id})
        created.append(stored.id)
    audit.record(
        session,
        actor=actor,
        action="safety.subscribe",
        subject_type="resident",
        subject_id=residents[0].resident_id if len(residents) == 1 else "",
        # never the address: subscriptions are shown to no one
        detail={"client": client, "subscriptions": created, "campaign": campaign_id},
    )


def stored_subscription(
    session: Session, campaign_id: str, resident_id: str, email: str
) -> Subscription | None:
    """The address's subscription to the resident in the campaign, if it has one."""
    found: Subscription | None = session.execute(
        select(Subscription).where(
            Subscription.campaign_id == campaign_id,
            Subscription.resident_id == resident_id,
            Subscription.email == email,
        )
    ).scalar_one_or_none()
    return found


def _subscription(session: Session, keys: SigningKeys, tenant: str, token: str) -> Subscription:
    subscription_id = tokens.subscription_of(keys, tenant, token)
    found = session.get(Subscription, subscription_id) if subscription_id else None
    if found is None:
        # a forged token and one whose campaign has ended answer alike
        raise NotFound(
            "この購読はありません（終了したか、リンクが正しくありません） / no such "
            "subscription (it ended, or the link is not valid)"
        )
    return found


def confirm(session: Session, keys: SigningKeys, tenant: str, token: str) -> Subscription:
    subscription = _subscription(session, keys, tenant, token)
    if subscription.confirmed_at is None:
        subscription.confirmed_at = datetime.now(UTC)
        audit.record(
            session,
            actor="public:subscriber",
            action="safety.subscription_confirm",
            subject_type="safety_subscription",
            subject_id=subscription.id,
        )
    return subscription


def cancel(session: Session, keys: SigningKeys, tenant: str, token: str) -> None:
    subscription = _subscription(session, keys, tenant, token)
    session.delete(subscription)
    audit.record(
        session,
        actor="public:subscriber",
        action="safety.subscription_cancel",
        subject_type="safety_subscription",
        subject_id=subscription.id,
    )


def state_of(session: Session, keys: SigningKeys, tenant: str, token: str) -> tuple[bool, str]:
    """Whether the subscription is confirmed, and its campaign's title (nothing about the
    person: the link may be forwarded)."""
    subscription = _subscription(session, keys, tenant, token)
    campaign = session.get(Campaign, subscription.campaign_id)
    return subscription.confirmed_at is not None, campaign.title if campaign else ""


def counts(session: Session, campaign_id: str) -> dict[str, int]:
    """How many subscriptions a campaign has, pending and confirmed: all staff may see."""
    rows = session.execute(
        select(Subscription.confirmed_at.is_not(None), func.count())
        .where(Subscription.campaign_id == campaign_id)
        .group_by(Subscription.confirmed_at.is_not(None))
    ).all()
    found = {bool(confirmed): count for confirmed, count in rows}
    return {"pending": found.get(False, 0), "confirmed": found.get(True, 0)}


#: someone confirmed they want to know of the resident's change, in a live and open
#: campaign (built once: every report that changes a status asks)
_WANTED = (
    select(Subscription.id)
    .join(Campaign, Campaign.id == Subscription.campaign_id)
    .where(
        Subscription.campaign_id == bindparam("campaign_id"),
        Subscription.resident_id == bindparam("resident_id"),
        Subscription.confirmed_at.is_not(None),
        Campaign.kind == CampaignKind.LIVE.value,
        Campaign.closed_at.is_(None),
    )
    .limit(1)
)


def status_changed(
    session: Session, tenant: str, campaign_id: str, resident_id: str, report_id: str
) -> None:
    """A report became the resident's current one: when someone confirmed they want to
    know, enqueue the job that tells them (in the report's unit of work)."""
    wanted = session.execute(
        _WANTED, {"campaign_id": campaign_id, "resident_id": resident_id}
    ).first()
    if wanted is not None:
        _enqueue(
            session,
            tenant,
            NOTIFY,
            {"campaign_id": campaign_id, "resident_id": resident_id, "report_id": report_id},
        )
