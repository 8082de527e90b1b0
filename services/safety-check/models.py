"""Every table of safety confirmation (the composition root imports this for migrations)."""

from safety_check.campaigns.models import Campaign
from safety_check.outreach.models import OutreachMessage, OutreachRound
from safety_check.pfif.models import PfifNote, PfifPerson
from safety_check.reports.models import (
    CurrentStatus,
    DisagreementResolution,
    MinuteChange,
    Report,
    StatusChange,
    StatusCount,
    Submission,
)
from safety_check.subscriptions.models import Subscription

__all__ = [
    "Campaign",
    "CurrentStatus",
    "DisagreementResolution",
    "MinuteChange",
    "OutreachMessage",
    "OutreachRound",
    "PfifNote",
    "PfifPerson",
    "Report",
    "StatusChange",
    "StatusCount",
    "Submission",
    "Subscription",
]
