"""The fan-out's parts from the site's settings, for the composition root."""

from __future__ import annotations

from safety_check.channels.settings import OutreachSettings, channel_names, senders
from safety_check.links.service import LinkMaker
from safety_check.outreach.service import Outreach
from yui.auth.tokens import SigningKeys
from yui.settings import Settings


def outreach_from_settings(settings: Settings) -> Outreach | None:
    """The channels, the link maker and the batch size; None when the site has no channel."""
    config = OutreachSettings()
    found = senders(config)
    if not found:
        return None
    keys = SigningKeys(settings.signing_key(), settings.previous_signing_key())
    return Outreach(
        found,
        LinkMaker(keys, url=config.link_url, ttl_seconds=config.link_ttl_hours * 3600),
        threads=config.send_threads,
        batch_size=config.batch_size,
        reminder_minutes=sorted(set(config.reminder_minutes)),
    )


def has_channel() -> bool:
    """Whether this site has a channel to reach people through (else no fan-out here)."""
    return bool(channel_names(OutreachSettings()))


def reminder_check_seconds() -> float:
    """How often the worker looks for reminders due (0: never)."""
    return OutreachSettings().reminder_check_seconds
