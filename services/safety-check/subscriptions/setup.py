"""The subscription jobs' parts from the site's settings, for the composition root."""

from __future__ import annotations

from collections.abc import Callable

from safety_check.channels.settings import OutreachSettings, senders
from safety_check.subscriptions.jobs import Mailer, kinds
from safety_check.subscriptions.settings import SubscriptionSettings
from yui.auth.tokens import SigningKeys
from yui.db.database import Database
from yui.jobs.kinds import JobKind
from yui.service_ports import ResidentDirectory
from yui.settings import Settings


def subscription_kinds(
    settings: Settings, directory: Callable[[Database], ResidentDirectory]
) -> list[JobKind]:
    mailer = Mailer(
        sender=lambda: senders(OutreachSettings()).get("email"),
        keys=SigningKeys(settings.signing_key(), settings.previous_signing_key()),
        url=SubscriptionSettings().url,
        directory=directory,
    )
    return kinds(mailer)


def has_email() -> bool:
    """Whether this site can send e-mail (YUI_SAFETY_SMTP_HOST)."""
    return OutreachSettings().smtp_host is not None
