"""HTTP routes of subscriptions: public subscribe/confirm/end (rate-limited), counts for staff."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from safety_check.access import Directory, StaffReader
from safety_check.campaigns import service as campaigns
from safety_check.campaigns.api import CampaignId
from safety_check.search import limits
from safety_check.subscriptions import service
from safety_check.subscriptions.schemas import (
    Accepted,
    SubscribeIn,
    SubscriptionCounts,
    SubscriptionState,
)
from safety_check.subscriptions.setup import has_email
from yui.errors import Unavailable
from yui.http.deps import Context, UoW

router = APIRouter(tags=["safety confirmation: subscriptions"])

Token = Annotated[
    str, Path(max_length=80, pattern=r"^[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}$", description="token")
]


@router.post(
    "/safety/subscriptions",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="安否が変わったらメールで知らせてもらう（確認メールあり、誰にも表示されない） / be "
    "told by e-mail when a person's status changes (confirmed by a link; never shown)",
)
def subscribe(
    body: SubscribeIn, request: Request, uow: UoW, directory: Directory, context: Context
) -> Accepted:
    if not has_email():
        raise Unavailable(
            "このサイトには電子メールの経路がありません / this site has no e-mail channel"
        )
    client = limits.take(request, f"subscribe:{uow.tenant}")
    # an address is not flooded with confirmations, whoever asks (its hash: no address kept)
    limits.site_limiter(request).take(
        "subscribe-email:" + hashlib.sha256(body.email.lower().encode()).hexdigest()
    )
    service.subscribe(
        uow, directory, context.db, body.name, body.birth_date, body.email, client=client
    )
    uow.commit()
    return Accepted()


@router.get(
    "/safety/subscriptions/{token}",
    response_model=SubscriptionState,
    summary="購読の状態（人の情報は含まない） / a subscription's state (nothing about the person)",
)
def read_subscription(
    token: Token, request: Request, uow: UoW, context: Context
) -> SubscriptionState:
    limits.take(request, f"subscription:{uow.tenant}")
    confirmed, title = service.state_of(uow.session, context.token_keys, uow.tenant or "", token)
    return SubscriptionState(confirmed=confirmed, campaign=title)


@router.post(
    "/safety/subscriptions/{token}/confirm",
    response_model=SubscriptionState,
    summary="購読を確認する / confirm a subscription",
)
def confirm_subscription(
    token: Token, request: Request, uow: UoW, context: Context
) -> SubscriptionState:
    limits.take(request, f"subscription:{uow.tenant}")
    subscription = service.confirm(uow.session, context.token_keys, uow.tenant or "", token)
    campaign = campaigns.get(uow.session, subscription.campaign_id)
    uow.commit()
    return SubscriptionState(confirmed=True, campaign=campaign.title)


@router.delete(
    "/safety/subscriptions/{token}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="購読をやめる / end a subscription",
)
def cancel_subscription(token: Token, request: Request, uow: UoW, context: Context) -> Response:
    limits.take(request, f"subscription:{uow.tenant}")
    service.cancel(uow.session, context.token_keys, uow.tenant or "", token)
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/safety/campaigns/{campaign_id}/subscriptions",
    response_model=SubscriptionCounts,
    summary="購読の件数だけ（誰が・どこへは見せない） / how many subscriptions (counts only)",
)
def subscription_counts(
    campaign_id: CampaignId, uow: UoW, principal: StaffReader
) -> SubscriptionCounts:
    campaign = campaigns.get(uow.session, campaign_id)
    return SubscriptionCounts(**service.counts(uow.session, campaign.id))
