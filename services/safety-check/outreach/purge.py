"""Removing a campaign's plan of messages with the campaign (a drill's purge)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from safety_check.outreach.models import OutreachMessage, OutreachRound


def purge_plan(session: Session, campaign_id: str) -> int:
    """Delete the campaign's rounds and planned messages (addresses included), row by row
    through the ORM so that the change log carries each delete to the replicas."""
    removed = 0
    for model in (OutreachMessage, OutreachRound):
        rows = session.execute(select(model).where(model.campaign_id == campaign_id)).scalars()
        for row in rows:
            session.delete(row)
            removed += 1
    return removed
