"""The operators' platform pages: the sites and their health, each tenant's primary,
replicas, in-sync set and lag, and planned switchovers with a confirmation step.

The console knows nothing of etcd or replication (DESIGN.md, "Layout"): the
composition root lends it a ``Platform`` (assembly/console_platform.py). A lone node
(no etcd) has none, and the page says so. Operators are not any municipality's staff:
they sign in with the platform's operator pass (YUI_CONSOLE_OPERATOR_TOKEN), counted
by the site's sign-in limits.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from console.common.api import Served
from console.common.settings import ConsoleSettings
from console.common.web import CONSOLE_PREFIX, CsrfChecked, Page, StaffPage
from yui.http.middleware import client_address

log = logging.getLogger("console.platform")
router = APIRouter(prefix=CONSOLE_PREFIX + "/platform", include_in_schema=False)
PLATFORM = CONSOLE_PREFIX + "/platform"


@dataclass(frozen=True)
class SiteRow:
    name: str
    provider: str
    region: str
    zones: tuple[str, ...]
    url: str
    #: holds a live lease in etcd (registered)
    live: bool
    this_site: bool
    controller: bool


@dataclass(frozen=True)
class ReplicaRow:
    site: str
    in_sync: bool
    lag_entries: int | None = None
    lag_seconds: float | None = None
    state: str = ""


@dataclass(frozen=True)
class TenantRow:
    tenant: str
    primary: str
    replicas: tuple[ReplicaRow, ...]
    epoch: int
    mode: str
    #: the primary answered with its replicas' lag (else the lag is unknown)
    lag_known: bool

    @property
    def switch_targets(self) -> list[str]:
        """The replicas a planned switchover may go to: the in-sync ones."""
        return [replica.site for replica in self.replicas if replica.in_sync]


@dataclass(frozen=True)
class MoveOutcome:
    ok: bool
    tenant: str
    source: str
    target: str | None
    #: why it did not move ("日本語 / English"), or a note
    reason: str = ""
    pause_seconds: float | None = None


class MoveNotAllowed(Exception):
    """The move cannot be made (unknown tenant, target not an in-sync replica); nothing
    changed. The message is "日本語 / English"."""


class Platform(Protocol):
    """What the platform pages read and do, lent by the composition root."""

    @property
    def coordination_connected(self) -> bool:
        """This site reaches etcd now (else the page shows the last view it had)."""
        ...

    def sites(self) -> list[SiteRow]: ...

    async def tenants(self) -> list[TenantRow]: ...

    async def switchover(self, tenant: str, target: str) -> MoveOutcome:
        """Move ``tenant``'s primary to ``target``; raises MoveNotAllowed before anything
        changes when the move cannot be made."""
        ...


def platform_of(page: Page) -> Platform | None:
    platform: Platform | None = getattr(page.request.app.state, "console_platform", None)
    return platform


def _served(page: Page) -> Served:
    return Served(page.kit.site, page.kit.site, "cluster")


def _operator_needed(page: Page) -> Response | None:
    """The sign-in page for someone not signed in as an operator; None for an operator."""
    if page.session.operator:
        return None
    return page.redirect(f"{PLATFORM}/sign-in")


@router.get("")
async def overview(page: StaffPage) -> Response:
    platform = platform_of(page)
    if platform is None:
        return page.render(
            "staff/platform.html", section="platform", served=_served(page), platform=None
        )
    if (away := _operator_needed(page)) is not None:
        return away
    return page.render(
        "staff/platform.html",
        section="platform",
        served=_served(page),
        platform=platform,
        connected=platform.coordination_connected,
        sites=platform.sites(),
        tenants=await platform.tenants(),
    )


@router.get("/sign-in")
def operator_sign_in_form(page: StaffPage) -> Response:
    configured = ConsoleSettings().operator_token is not None
    return page.render(
        "staff/platform_sign_in.html", section="platform", configured=configured, error=""
    )


@router.post("/sign-in", dependencies=[CsrfChecked])
def operator_sign_in(page: StaffPage, token: Annotated[str, Form(max_length=1024)]) -> Response:
    settings = ConsoleSettings()
    expected = settings.operator_token
    limiter = page.request.app.state.yui.limiter
    client_key = f"console-operator:{client_address(dict(page.request.scope))}"
    wait = limiter.retry_after(client_key)
    if wait:
        return page.render(
            "staff/platform_sign_in.html",
            status=429,
            section="platform",
            configured=expected is not None,
            error=page.t("operator.too_many", seconds=wait),
        )
    if expected is None or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        limiter.fail(client_key)
        return page.render(
            "staff/platform_sign_in.html",
            status=401,
            section="platform",
            configured=expected is not None,
            error=page.t("operator.wrong"),
        )
    limiter.succeed(client_key)
    page.session.operator_until = int(time.time()) + settings.operator_session_seconds
    page.session.changed = True
    return page.redirect(PLATFORM)


@router.post("/sign-out", dependencies=[CsrfChecked])
def operator_sign_out(page: StaffPage) -> Response:
    page.session.operator_until = 0
    page.session.changed = True
    return page.redirect(f"{PLATFORM}/sign-in")


async def _tenant(platform: Platform, tenant: str) -> TenantRow | None:
    return next((row for row in await platform.tenants() if row.tenant == tenant), None)


@router.get("/moves/confirm")
async def confirm_move(
    page: StaffPage,
    tenant: Annotated[str, Query(pattern=r"^[0-9]{6}$")],
    to: Annotated[str, Query(max_length=63)],
) -> Response:
    """The confirmation step: what will move, where, and what it does to writes."""
    platform = platform_of(page)
    if platform is None:
        return page.redirect(PLATFORM)
    if (away := _operator_needed(page)) is not None:
        return away
    row = await _tenant(platform, tenant)
    error = ""
    if row is None:
        error = page.t("move.unknown_tenant", tenant=tenant)
    elif to not in row.switch_targets:
        error = page.t("move.not_in_sync", site=to)
    return page.render(
        "staff/platform_confirm.html",
        status=422 if error else 200,
        section="platform",
        served=_served(page),
        row=row,
        target=to,
        error=error,
    )


@router.post("/moves", dependencies=[CsrfChecked])
async def make_move(
    page: StaffPage,
    tenant: Annotated[str, Form(pattern=r"^[0-9]{6}$")],
    to: Annotated[str, Form(max_length=63)],
    confirm: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    platform = platform_of(page)
    if platform is None:
        return page.redirect(PLATFORM)
    if (away := _operator_needed(page)) is not None:
        return away
    row = await _tenant(platform, tenant)
    if confirm.strip() != tenant:
        return page.render(
            "staff/platform_confirm.html",
            status=422,
            section="platform",
            served=_served(page),
            row=row,
            target=to,
            error=page.t("move.confirm_mismatch"),
        )
    try:
        outcome = await platform.switchover(tenant, to)
    except MoveNotAllowed as refused:
        return page.render(
            "staff/platform_confirm.html",
            status=422,
            section="platform",
            served=_served(page),
            row=row,
            target=to,
            error=page.localized(str(refused)),
        )
    log.info(
        "operator switchover of %s from %s to %s: %s",
        tenant,
        outcome.source,
        outcome.target,
        "done" if outcome.ok else f"not done ({outcome.reason})",
    )
    return page.render(
        "staff/platform_moved.html",
        status=200 if outcome.ok else 409,
        section="platform",
        served=_served(page),
        outcome=outcome,
        reason=page.localized(outcome.reason) if outcome.reason else "",
    )
