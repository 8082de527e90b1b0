"""The jobs that send a subscription's e-mails (yui/jobs: at the tenant's primary).

- `safety.subscription_confirm`: the confirmation e-mail with the subscription's link;
- `safety.subscription_notify`: a status change, to every confirmed subscriber of the
  resident whose last told status differs, then (a database step) what each was told.

Sending is an external step, so it may run twice (a crash or a failover between the send
and its record): every message carries the step's idempotency key plus the subscription
(the receiver keeps one per key) and the fencing epoch; a second job for the same change
finds each subscriber already told and sends nothing. Before telling anyone, the resident
is read again as `Audience.NON_STAFF`: someone placed under a DV-support block (or gone
from the registry) since is never told about, and their subscriptions are deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from safety_check.campaigns.models import Campaign, CampaignKind
from safety_check.channels.base import Message, Refused, Sender
from safety_check.reports.models import Report, SafetyStatus
from safety_check.search.schemas import PUBLIC_STATUS, PublicStatus
from safety_check.subscriptions import tokens
from safety_check.subscriptions.models import Subscription, forget_resident
from safety_check.subscriptions.service import CONFIRM, NOTIFY
from yui.auth.tokens import SigningKeys
from yui.db.database import Database
from yui.jobs.kinds import JobKind, Step, StepContext
from yui.service_ports import Audience, ResidentDirectory
from yui.tenancy.models import Tenant

ACTOR = "system:subscriptions"

STATUS_TEXT = {
    PublicStatus.SAFE: "無事 / safe",
    PublicStatus.INJURED: "けが / injured",
    PublicStatus.NEEDS_HELP: "救助・支援が必要 / needs help",
    PublicStatus.MISSING: "行方不明と思われる / believed missing",
    PublicStatus.NO_INFORMATION: "まだ情報がありません / no information yet",
    PublicStatus.CONTACT_MUNICIPALITY: "自治体にお問い合わせください / please contact the municipality",
}


@dataclass
class Mailer:
    """What the jobs need, from the composition root: the e-mail channel (made when first
    used), the site's token keys, the link's address and the registry's port."""

    sender: Callable[[], Sender | None]
    keys: SigningKeys
    url: str
    directory: Callable[[Database], ResidentDirectory]
    _sender: Sender | None = field(default=None, init=False)

    def channel(self) -> Sender:
        if self._sender is None:
            self._sender = self.sender()
        if self._sender is None:
            from safety_check.channels.base import ChannelUnavailable

            raise ChannelUnavailable(
                "このサイトには電子メールの経路がありません / this site has no e-mail channel"
            )
        return self._sender

    def link(self, tenant: str, subscription_id: str) -> str:
        return self.url.format(
            tenant=tenant, token=tokens.issue(self.keys, tenant, subscription_id)
        )


def _municipality(db: Database, tenant: str) -> str:
    with db.unit_of_work(tenant, read_only=True) as uow:
        found = uow.session.get(Tenant, tenant)
        return found.name if found is not None else tenant


def _send_confirmation(mailer: Mailer, context: StepContext) -> dict[str, Any]:
    subscription_id = context.params["subscription_id"]
    with context.db.unit_of_work(context.tenant, read_only=True) as uow:
        subscription = uow.session.get(Subscription, subscription_id)
        if subscription is None or subscription.confirmed_at is not None:
            return {"sent": False}  # ended or confirmed meanwhile
        email = subscription.email
    link = mailer.link(context.tenant, subscription_id)
    municipality = _municipality(context.db, context.tenant)
    context.fence()
    try:
        mailer.channel().send(
            Message(
                tenant=context.tenant,
                to=email,
                subject=f"【{municipality}】安否のお知らせの登録確認 / confirm your subscription",
                text=(
                    f"{municipality}の安否確認で、お探しの方の安否が変わったときにお知らせする登録を"
                    f"受け付けました。登録するには次のリンクを開いて確認してください:\n{link}\n"
                    "心当たりがなければ、このメールは無視してください（何も送られません）。\n\n"
                    f"You asked {municipality} to tell you when the status of the person you "
                    f"searched for changes. To confirm, open:\n{link}\n"
                    "If this was not you, ignore this e-mail: nothing more will be sent."
                ),
                key=f"{context.effect_key}:{subscription_id}",
                epoch=context.epoch,
                link=link,
            )
        )
    except Refused:
        return {"sent": False, "refused": True}
    return {"sent": True}


def confirm_kind(mailer: Mailer) -> JobKind:
    def steps(_params: dict[str, Any]) -> Sequence[Step]:
        return [Step("send", lambda context: _send_confirmation(mailer, context), external=True)]

    return JobKind(CONFIRM, steps)


def _send_change(mailer: Mailer, context: StepContext) -> dict[str, Any]:
    params = context.params
    campaign_id, resident_id = params["campaign_id"], params["resident_id"]
    with context.db.unit_of_work(context.tenant, read_only=True) as uow:
        session = uow.session
        campaign = session.get(Campaign, campaign_id)
        report = session.get(Report, params["report_id"])
        if (
            campaign is None
            or campaign.kind != CampaignKind.LIVE.value
            or campaign.closed_at is not None
            or report is None
        ):
            return {"sent": [], "status": ""}
        status = PUBLIC_STATUS[SafetyStatus(report.status)]
        waiting = [
            (row.id, row.email)
            for row in session.execute(
                select(Subscription)
                .where(
                    Subscription.campaign_id == campaign_id,
                    Subscription.resident_id == resident_id,
                    Subscription.confirmed_at.is_not(None),
                    Subscription.notified_status != status.value,
                )
                .order_by(Subscription.id)
            ).scalars()
        ]
        reported_at = report.reported_at
    if not waiting:
        return {"sent": [], "status": status.value}
    facts = mailer.directory(context.db).lookup(
        context.tenant, resident_id, audience=Audience.NON_STAFF, actor=ACTOR
    )
    if facts is None:  # blocked or gone since they subscribed: never told about again
        return {"sent": [], "status": status.value, "forget": True}
    municipality = _municipality(context.db, context.tenant)
    name = f"{facts.family_name} {facts.given_name}"
    when = reported_at.strftime("%Y-%m-%d %H:%M UTC")
    sent: list[str] = []
    for subscription_id, email in waiting:
        link = mailer.link(context.tenant, subscription_id)
        context.fence()
        try:
            mailer.channel().send(
                Message(
                    tenant=context.tenant,
                    to=email,
                    subject=f"【{municipality}】{name} さんの安否 / status update",
                    text=(
                        f"{name} さん（{facts.birth_date.isoformat()} 生まれ）の安否: "
                        f"{STATUS_TEXT[status]}（{when}）\n"
                        f"お知らせをやめるには / to stop these e-mails: {link}\n"
                        f"{municipality}"
                    ),
                    key=f"{context.effect_key}:{subscription_id}",
                    epoch=context.epoch,
                    link=link,
                )
            )
        except Refused:
            continue  # that address will never take it: the others still hear
        sent.append(subscription_id)
    return {"sent": sent, "status": status.value}


def _record_change(context: StepContext) -> None:
    told = context.results[0]
    session = context.rows()
    if told.get("forget"):
        forget_resident(session, context.params["campaign_id"], context.params["resident_id"])
        return
    for subscription_id in told["sent"]:
        subscription = session.get(Subscription, subscription_id)
        if subscription is not None:
            subscription.notified_status = told["status"]


def notify_kind(mailer: Mailer) -> JobKind:
    def steps(_params: dict[str, Any]) -> Sequence[Step]:
        return [
            Step("send", lambda context: _send_change(mailer, context), external=True),
            Step("record", _record_change),
        ]

    return JobKind(NOTIFY, steps)


def kinds(mailer: Mailer) -> list[JobKind]:
    return [confirm_kind(mailer), notify_kind(mailer)]
