"""The public endpoints of a one-tap link: no staff sign-in, the link's signature is the
credential. Rate-limited per client address like sign-in (the site's Redis, shared by
its processes; memory on a lone site without Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from safety_check.access import Directory
from safety_check.channels.settings import OutreachSettings
from safety_check.links import service, signing
from safety_check.links.schemas import LinkOut, OneTapIn, OneTapOut, OneTapStatus
from yui.auth.ratelimit import FailureLimiter
from yui.errors import TooManyRequests
from yui.http.deps import Context, Tenant
from yui.http.middleware import client_address

router = APIRouter(tags=["safety confirmation (public one-tap links)"])

Token = Annotated[
    str,
    Path(
        min_length=signing.TOKEN_CHARS,
        max_length=signing.TOKEN_CHARS,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="リンクのトークン / the link's token",
    ),
]


def link_limiter(request: Request, context: Context) -> FailureLimiter:
    limiter: FailureLimiter | None = getattr(request.app.state, "safety_link_limiter", None)
    if limiter is None:
        per_minute = OutreachSettings().link_requests_per_minute
        limiter = FailureLimiter(per_minute, 60, context.settings.redis_url or "memory://")
        request.app.state.safety_link_limiter = limiter
    return limiter


def counted_as(purpose: str) -> Callable[..., None]:
    """A dependency: every request from an address counts against its budget for
    ``purpose`` (the public endpoints' budgets are apart); over it, 429 with Retry-After."""

    def counted(
        request: Request, limiter: Annotated[FailureLimiter, Depends(link_limiter)]
    ) -> None:
        key = f"{purpose}:client:{client_address(dict(request.scope))}"
        wait = limiter.retry_after(key)
        if wait:
            raise TooManyRequests(
                f"リクエストが多すぎます。{wait}秒後に再試行してください / too many requests; "
                f"try again in {wait} s",
                retry_after=wait,
            )
        limiter.fail(key)

    return counted


Counted = Depends(counted_as("safety-link"))


def claims_of(token: str, tenant: str, context: Context) -> signing.LinkClaims:
    return signing.read(token, context.token_keys, tenant)


@router.get(
    "/safety/links/{token}",
    response_model=LinkOut,
    summary="リンクの安否確認（本人の情報は返さない） / the link's campaign (nothing about the "
    "person)",
    dependencies=[Counted],
)
def show_link(token: Token, tenant: Tenant, context: Context) -> LinkOut:
    claims = claims_of(token, tenant, context)
    title, is_open = service.campaign_of(context.db, claims)
    return LinkOut(
        campaign_id=claims.campaign_id,
        title=title,
        open=is_open,
        expires_at=signing.expires(claims),
        statuses=list(OneTapStatus),
    )


@router.post(
    "/safety/links/{token}/reports",
    response_model=OneTapOut,
    status_code=status.HTTP_201_CREATED,
    summary="リンクから本人の安否を報告（同じIDの再送は最初の結果） / report through the link "
    "(a resend returns the first result)",
    responses={200: {"model": OneTapOut, "description": "記録済み / already recorded"}},
    dependencies=[Counted],
)
def report_through_link(
    token: Token,
    body: OneTapIn,
    tenant: Tenant,
    context: Context,
    directory: Directory,
    response: Response,
) -> OneTapOut:
    claims = claims_of(token, tenant, context)
    answer, created = service.record(context.db, directory, claims, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return answer
