"""The false-alarm hold's end, as a job at the tenant's primary (`yui.jobs`).

The end of each hold is stored in the campaign (``hold_until``), replicated with it. The
site's job dispatcher asks :func:`holds_due` for each tenant it is the primary of, every
few seconds, and makes a release job only when a hold has ended: after a restart or a
failover the primary of the moment finds the stored deadline and opens the campaign,
once (the release is a database step: it runs exactly once).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from safety_check.campaigns import service
from safety_check.campaigns.models import Campaign, CampaignState
from yui.db.database import Database
from yui.jobs.kinds import JobKind, Step, StepContext

KIND = "safety.release_holds"
#: how often the dispatcher looks for ended holds (a hold ends at most this late)
EVERY_SECONDS = 10.0


def holds_due(db: Database, tenant: str) -> bool:
    """Whether a campaign of the tenant waits past the end of its hold (a cheap read)."""
    with db.unit_of_work(tenant, read_only=True) as uow:
        return bool(
            uow.session.execute(
                select(
                    exists().where(
                        Campaign.tenant_id == tenant,
                        Campaign.state == CampaignState.PENDING,
                        Campaign.hold_until <= service.now(),
                    )
                )
            ).scalar()
        )


def _release(context: StepContext) -> dict[str, Any]:
    released = service.release_due(context.rows())
    return {"released": [campaign.id for campaign in released]}


RELEASE_HOLDS = JobKind(name=KIND, steps=lambda _params: [Step("release", _release)])
