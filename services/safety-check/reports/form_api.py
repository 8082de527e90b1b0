"""HTTP routes of the open mobile form (public, rate-limited) and the staff's review queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from safety_check.access import Directory, StaffReader, StaffWriter
from safety_check.campaigns.api import CampaignId
from safety_check.links.api import Counted, counted_as
from safety_check.reports import form
from safety_check.reports.models import ReviewState
from safety_check.reports.schemas import (
    UUID_PATTERN,
    ConfirmIn,
    FormAck,
    FormIn,
    OpenCampaignsOut,
    ReviewQueueOut,
    SubmissionOut,
    submission_out,
)
from yui.http.deps import UoW
from yui.text import LineText

router = APIRouter(tags=["safety confirmation"])

SubmissionId = Annotated[str, Path(pattern=UUID_PATTERN, description="報告ID / submission id")]


@router.get(
    "/safety/open-campaigns",
    response_model=OpenCampaignsOut,
    summary="報告を受け付けている安否確認（公開: 自治体名と題名だけ、訓練は出ない） / campaigns "
    "taking reports now (public: the municipality's name and their titles; never a drill)",
    dependencies=[Depends(counted_as("safety-open-campaigns"))],
)
def open_campaigns(uow: UoW) -> OpenCampaignsOut:
    return form.open_campaigns(uow.session, uow.tenant or "")


@router.post(
    "/safety/campaigns/{campaign_id}/form",
    response_model=FormAck,
    status_code=status.HTTP_202_ACCEPTED,
    summary="誰でも送れる安否の報告（未確認、職員が確認） / the open form: an unverified report, "
    "reviewed by staff",
    responses={200: {"model": FormAck, "description": "受付済み / already received"}},
    dependencies=[Counted],
)
def submit_form(
    campaign_id: CampaignId, body: FormIn, uow: UoW, directory: Directory, response: Response
) -> FormAck:
    submission, created = form.submit(uow, directory, campaign_id, body)
    uow.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    return FormAck(id=submission.id, received_at=submission.received_at)


@router.get(
    "/safety/campaigns/{campaign_id}/submissions",
    response_model=ReviewQueueOut,
    summary="フォームの報告の確認待ち一覧（古い順、監査記録あり） / the review queue, oldest "
    "first (audited)",
)
def review_queue(
    campaign_id: CampaignId,
    uow: UoW,
    principal: StaffReader,
    review: ReviewState = ReviewState.PENDING,
    match: Annotated[
        LineText, Query(pattern="^(|exact|partial|none)$", description="exact, partial, none")
    ] = "",
    cursor: Annotated[LineText, Query(max_length=36)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewQueueOut:
    out = form.queue(
        uow,
        campaign_id,
        actor=principal.username,
        review=review,
        quality=match,
        cursor=cursor,
        limit=limit,
    )
    uow.commit()
    return out


@router.post(
    "/safety/campaigns/{campaign_id}/submissions/{submission_id}/confirm",
    response_model=SubmissionOut,
    summary="フォームの報告をこの住民の報告として記録 / confirm: record it for this resident",
)
def confirm_submission(
    campaign_id: CampaignId,
    submission_id: SubmissionId,
    body: ConfirmIn,
    uow: UoW,
    principal: StaffWriter,
    directory: Directory,
) -> SubmissionOut:
    submission = form.confirm(
        uow, directory, campaign_id, submission_id, body.resident_id, actor=principal.username
    )
    uow.commit()
    return submission_out(submission)


@router.post(
    "/safety/campaigns/{campaign_id}/submissions/{submission_id}/reject",
    response_model=SubmissionOut,
    summary="フォームの報告を使わない / reject a submission",
)
def reject_submission(
    campaign_id: CampaignId, submission_id: SubmissionId, uow: UoW, principal: StaffWriter
) -> SubmissionOut:
    submission = form.reject(uow, campaign_id, submission_id, actor=principal.username)
    uow.commit()
    return submission_out(submission)
