"""The operators' platform pages: the sites and their health, each tenant's primary,
replicas, in-sync set and lag, and planned switchovers with a confirmation step (the
quarantine, evacuations, drill history and alerts are in console.staff.platform_pages).

The console knows nothing of etcd or replication (DESIGN.md, "Layout"): the
composition root lends it a ``Platform`` (assembly/console_platform.py). A lone node
(no etcd) has none, and the page says so. Operators are not any municipality's staff:
they sign in with the platform's operator pass (YUI_CONSOLE_OPERATOR_TOKEN), counted
by the site's sign-in limits.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from console.common.api import Served
from console.common.security import same_origin
from console.common.settings import ConsoleSettings
from console.common.web import CONSOLE_PREFIX, Page, StaffPage
from yui.http.middleware import client_address

log = logging.getLogger("console.platform")
router = APIRouter(prefix=CONSOLE_PREFIX + "/platform", include_in_schema=False)
PLATFORM = CONSOLE_PREFIX + "/platform"
TENANT_CODE = re.compile(r"^[0-9]{6}$")
#: a site's name as the topology spells it
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: rows a platform list shows on one page
PAGE_SIZE = 20


def page_number(text: str) -> int:
    """The page asked for (1 when it is not a page number)."""
    return int(text) if text.isdigit() and 0 < len(text) <= 6 else 1


def pager(page_no: int, total: int, **query: str) -> dict[str, Any]:
    """What a paged list's template needs: its page, how many, its filters' query."""
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return {
        "page_no": page_no,
        "pages": pages,
        "query_string": urlencode({k: v for k, v in query.items() if v}),
    }


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
    #: the move is in the tenant's audit log (None: nothing was asked to record it)
    audited: bool | None = None


@dataclass(frozen=True)
class EvacuationOutcome:
    site: str
    reason: str
    moved: tuple[MoveOutcome, ...]
    failed: tuple[MoveOutcome, ...]
    seconds: float
    #: tenants whose audit log could not be given the move (the node's log has it)
    unaudited: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuarantinedRow:
    """One entry of a site's quarantine (what `yui replication quarantine list` shows)."""

    id: int
    site: str
    tenant: str
    seq: int
    epoch: int
    tx_seq: int
    table: str
    op: str
    pk: dict[str, Any]
    row: dict[str, Any] | None
    committed_at: datetime
    reason_code: str
    reason: str
    source_site: str
    quarantined_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None

    @property
    def pk_text(self) -> str:
        return json.dumps(self.pk, ensure_ascii=False, sort_keys=True)

    @property
    def row_text(self) -> str:
        return "—" if self.row is None else json.dumps(self.row, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class DrillRow:
    """One saved drill (`yui drill run/soak`): its folder's name, what and how it went."""

    name: str
    scenario: str
    target: str
    started_at: str | None
    ok: bool
    outcome: str
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRow:
    """An alert this site's intake received, and what it decided."""

    id: int
    received_at: datetime
    site: str
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    kind: str
    headline: str
    action: str
    summary: str
    dry_run: bool
    executed: bool
    ok: bool
    decision: dict[str, Any]


class MoveNotAllowed(Exception):
    """The move cannot be made (unknown tenant, target not an in-sync replica); nothing
    changed. The message is "日本語 / English"."""


class PlatformRefused(Exception):
    """What was asked cannot be done (an unknown site, an entry already resolved, a site
    that does not answer); nothing changed. The message is "日本語 / English"."""


class Platform(Protocol):
    """What the platform pages read and do, lent by the composition root."""

    @property
    def coordination_connected(self) -> bool:
        """This site reaches etcd now (else the page shows the last view it had)."""
        ...

    def sites(self) -> list[SiteRow]: ...

    async def tenants(self) -> list[TenantRow]: ...

    def tenant_codes(self) -> list[str]:
        """The tenants placed in the cluster (no call to any site)."""
        ...

    async def switchover(self, tenant: str, target: str, *, operator: str) -> MoveOutcome:
        """Move ``tenant``'s primary to ``target`` and record it in the tenant's audit log
        (by ``operator``); raises MoveNotAllowed before anything changes when the move
        cannot be made."""
        ...

    async def plan_evacuation(self, site: str) -> list[tuple[str, str | None]]:
        """(tenant, target or None) for every tenant whose primary is at ``site``; raises
        MoveNotAllowed when it cannot be read (etcd out of reach)."""
        ...

    async def evacuate(self, site: str, *, reason: str, operator: str) -> EvacuationOutcome:
        """Move every primary off ``site`` (as `yui failover evacuate`), each move in its
        tenant's audit log; raises MoveNotAllowed for a site the topology does not have."""
        ...

    async def quarantine(
        self, site: str, tenant: str, *, resolved: bool, offset: int, limit: int
    ) -> list[QuarantinedRow]:
        """``site``'s quarantined entries of ``tenant`` (PlatformRefused: site unreachable)."""
        ...

    async def quarantined_entry(self, site: str, tenant: str, entry_id: int) -> QuarantinedRow:
        """One entry (PlatformRefused when ``site`` has no such entry of ``tenant``)."""
        ...

    async def resolve_quarantined(
        self, site: str, tenant: str, entry_id: int, *, by: str, note: str
    ) -> QuarantinedRow:
        """Mark the entry reconciled, as `yui replication quarantine resolve` does at
        ``site`` (PlatformRefused: no such entry, or already resolved)."""
        ...

    def drills(self, *, offset: int, limit: int) -> tuple[list[DrillRow], int]:
        """The saved drills, newest first, and how many there are."""
        ...

    def drill(self, name: str) -> tuple[DrillRow, dict[str, Any]] | None:
        """One saved drill and its whole report (None: no such drill)."""
        ...

    def alerts(self, *, offset: int, limit: int) -> tuple[list[AlertRow], int]:
        """The alerts this site received, newest first, and how many there are."""
        ...


def platform_of(page: Page) -> Platform | None:
    platform: Platform | None = getattr(page.request.app.state, "console_platform", None)
    return platform


def served_here(page: Page) -> Served:
    return Served(page.kit.site, page.kit.site, "cluster")


def operator_needed(page: Page) -> Response | None:
    """The sign-in page for someone not signed in as an operator; None for an operator."""
    if page.session.operator:
        return None
    return page.redirect(f"{PLATFORM}/sign-in")


def operator_platform(page: Page) -> Platform | Response:
    """The platform for an operator, else the page to show instead: the overview when this
    node has no platform (a lone node), the sign-in for someone not signed in as one."""
    platform = platform_of(page)
    if platform is None:
        return page.redirect(PLATFORM)
    return operator_needed(page) or platform


def operator_form(page: Page, csrf_token: str) -> Platform | Response:
    """`operator_platform` for an operator's form (a change): also the page (403) for a
    form without this session's CSRF token, checked after the operator."""
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    return csrf_refused(page, csrf_token) or platform


def refused(page: Page, status: int, message: str) -> Response:
    """A clear page for a request that was refused (nothing was written)."""
    return page.render(
        "staff/platform_refused.html",
        status=status,
        section="platform",
        served=served_here(page),
        message=message,
    )


def csrf_refused(page: Page, token: str) -> Response | None:
    """A page (403) for a form without this session's CSRF token, or sent from another
    site; None when the form is good. (The console's CsrfChecked answers problem+json:
    an operator gets a page to act on instead.)"""
    if same_origin(page.request) and page.kit.csrf.valid(page.session.sid, token):
        return None
    return refused(page, 403, page.t("platform.csrf"))


def operator_name(text: str) -> str:
    """Who the operator says they are, for the audit log ("" when not given)."""
    return " ".join(text.split())[:80]


@router.get("")
async def overview(
    page: StaffPage,
    tenant: Annotated[str, Query(max_length=6)] = "",
    primary: Annotated[str, Query(max_length=63)] = "",
    page_no: Annotated[str, Query(alias="page", max_length=6)] = "1",
) -> Response:
    """The sites, then the tenants' placements PAGE_SIZE at a time, filtered by the start
    of a tenant's code and by the site of its primary (a platform serves hundreds)."""
    platform = platform_of(page)
    if platform is None:
        return page.render(
            "staff/platform.html", section="platform", served=served_here(page), platform=None
        )
    if (away := operator_needed(page)) is not None:
        return away
    code = tenant if tenant.isdigit() else ""
    sites = platform.sites()
    at = primary if any(site.name == primary for site in sites) else ""
    rows = [
        row
        for row in await platform.tenants()
        if row.tenant.startswith(code) and (not at or row.primary == at)
    ]
    number = page_number(page_no)
    return page.render(
        "staff/platform.html",
        section="platform",
        subsection="overview",
        served=served_here(page),
        platform=platform,
        connected=platform.coordination_connected,
        sites=sites,
        tenants=rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE],
        total=len(rows),
        tenant_filter=code,
        primary_filter=at,
        **pager(number, len(rows), tenant=code, primary=at),
    )


@router.get("/sign-in")
def operator_sign_in_form(page: StaffPage) -> Response:
    configured = ConsoleSettings().operator_token is not None
    return page.render(
        "staff/platform_sign_in.html", section="platform", configured=configured, error=""
    )


@router.post("/sign-in")
def operator_sign_in(
    page: StaffPage,
    token: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if (bad_form := csrf_refused(page, csrf_token)) is not None:
        return bad_form
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


@router.post("/sign-out")
def operator_sign_out(page: StaffPage, csrf_token: Annotated[str, Form()] = "") -> Response:
    if (bad_form := csrf_refused(page, csrf_token)) is not None:
        return bad_form
    page.session.operator_until = 0
    page.session.changed = True
    return page.redirect(f"{PLATFORM}/sign-in")


async def _tenant(platform: Platform, tenant: str) -> TenantRow | None:
    return next((row for row in await platform.tenants() if row.tenant == tenant), None)


def _confirm_page(
    page: Page, row: TenantRow | None, target: str, error: str, operator: str = ""
) -> Response:
    return page.render(
        "staff/platform_confirm.html",
        status=422 if error else 200,
        section="platform",
        served=served_here(page),
        row=row,
        target=target,
        operator=operator,
        error=error,
    )


@router.get("/moves/confirm")
async def confirm_move(
    page: StaffPage,
    tenant: Annotated[str, Query()] = "",
    to: Annotated[str, Query()] = "",
) -> Response:
    """The confirmation step: what will move, where, and what it does to writes."""
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    row = await _tenant(platform, tenant) if TENANT_CODE.match(tenant) else None
    error = ""
    if row is None:
        error = page.t("move.unknown_tenant", tenant=tenant[:20])
    elif to not in row.switch_targets:
        error = page.t("move.not_in_sync", site=to[:63])
    return _confirm_page(page, row, to[:63], error)


@router.post("/moves")
async def make_move(
    page: StaffPage,
    tenant: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    operator: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    platform = operator_form(page, csrf_token)
    if isinstance(platform, Response):
        return platform
    if not TENANT_CODE.match(tenant):
        return refused(page, 404, page.t("move.unknown_tenant", tenant=tenant[:20]))
    row = await _tenant(platform, tenant)
    if row is None:
        return refused(page, 404, page.t("move.unknown_tenant", tenant=tenant))
    who = operator_name(operator)
    if confirm.strip() != tenant:
        return _confirm_page(page, row, to[:63], page.t("move.confirm_mismatch"), who)
    if not who:
        return _confirm_page(page, row, to[:63], page.t("move.operator_needed"), who)
    try:
        outcome = await platform.switchover(tenant, to[:63], operator=who)
    except MoveNotAllowed as refusal:
        return _confirm_page(page, row, to[:63], page.localized(str(refusal)), who)
    log.info(
        "operator %r: switchover of %s from %s to %s: %s",
        who,
        tenant,
        outcome.source,
        outcome.target,
        "done" if outcome.ok else f"not done ({outcome.reason})",
    )
    return page.render(
        "staff/platform_moved.html",
        status=200 if outcome.ok else 409,
        section="platform",
        served=served_here(page),
        outcome=outcome,
        reason=page.localized(outcome.reason) if outcome.reason else "",
    )
