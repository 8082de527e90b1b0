"""HTTP routes of the fan-out (staff). Thin: the service decides."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel

from safety_check.access import Directory, StaffReader, StaffWriter
from safety_check.campaigns.api import CampaignId
from safety_check.channels.settings import OutreachSettings, channel_names
from safety_check.outreach import service
from yui.db.types import UtcDateTime
from yui.http.deps import Context, Tenant, UoW
from yui.jobs import service as jobs

router = APIRouter(tags=["safety confirmation"])


class RoundOut(BaseModel):
    round: int
    job_id: str
    messages: int
    batches: int
    unreachable: int
    planned_at: UtcDateTime | None = None
    #: the job's state and the batches it has sent
    state: str = "queued"
    batches_sent: int = 0


@router.post(
    "/safety/campaigns/{campaign_id}/outreach",
    response_model=RoundOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="一斉送信を開始（要支援者から、バックグラウンドジョブ） / send every resident their "
    "link (needs-assistance first, a background job)",
)
def start_outreach(
    campaign_id: CampaignId,
    tenant: Tenant,
    context: Context,
    directory: Directory,
    principal: StaffWriter,
) -> RoundOut:
    settings = OutreachSettings()
    planned = service.start(
        context.db,
        directory,
        tenant,
        campaign_id,
        actor=principal.username,
        channels=channel_names(settings),
        batch_size=settings.batch_size,
        reminder_minutes=settings.reminder_minutes,
    )
    return RoundOut(
        round=planned.round,
        job_id=planned.job_id,
        messages=planned.messages,
        batches=planned.batches,
        unreachable=planned.unreachable,
    )


@router.get(
    "/safety/campaigns/{campaign_id}/outreach",
    response_model=list[RoundOut],
    summary="一斉送信と再送の進み具合 / the rounds of messages and their progress",
)
def list_outreach(campaign_id: CampaignId, uow: UoW, _: StaffReader) -> list[RoundOut]:
    found = []
    for item in service.rounds(uow, campaign_id):
        job = jobs.get(uow, uuid.UUID(item.job_id))
        found.append(
            RoundOut(
                round=item.round,
                job_id=item.job_id,
                messages=item.messages,
                batches=item.batches,
                unreachable=item.unreachable,
                planned_at=item.planned_at,
                state=job.state,
                batches_sent=job.step,
            )
        )
    return found
