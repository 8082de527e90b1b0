"""The operators' platform pages beyond the overview: a tenant's quarantined entries and
resolving one, the evacuation of a site, the drill history with each drill's report, and
the alerts this site received with what it decided. Each change goes through a
confirmation step; each list is paged on the server (PAGE_SIZE rows).

Every refused request (not an operator, a bad CSRF token, an unknown tenant, site, entry
or drill) writes nothing and answers a page that says why.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from console.common.web import Page, StaffPage
from console.staff.platform import (
    PAGE_SIZE,
    PLATFORM,
    SITE_NAME,
    TENANT_CODE,
    MoveNotAllowed,
    Platform,
    PlatformRefused,
    QuarantinedRow,
    operator_form,
    operator_name,
    operator_platform,
    page_number,
    pager,
    refused,
    served_here,
)

log = logging.getLogger("console.platform")
router = APIRouter(prefix=PLATFORM, include_in_schema=False)
#: a drill's folder: "<UTC stamp>-<scenario>[-n]" (never a path)
DRILL_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]{1,80}$")
#: the planned moves an evacuation's confirmation page lists (the count says the rest)
PLAN_SHOWN = 50


# --------------------------------------------------------------------------- quarantine


def _known_site(platform: Platform, site: str) -> bool:
    return any(row.name == site for row in platform.sites())


@router.get("/quarantine")
async def quarantine_page(
    page: StaffPage,
    tenant: Annotated[str, Query()] = "",
    site: Annotated[str, Query()] = "",
    resolved: Annotated[str, Query()] = "",
    page_no: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    tenants = platform.tenant_codes()
    sites = [row.name for row in platform.sites()]
    here = next((row.name for row in platform.sites() if row.this_site), page.kit.site)
    chosen_site = site or here
    context: dict[str, Any] = {
        "section": "platform",
        "subsection": "quarantine",
        "tenants": tenants,
        "sites": sites,
        "tenant": tenant,
        "site": chosen_site,
        "resolved": resolved == "1",
    }
    if not tenant:
        return page.render(
            "staff/platform_quarantine.html",
            served=served_here(page),
            rows=None,
            error="",
            **context,
        )
    if not TENANT_CODE.match(tenant) or tenant not in tenants:
        return refused(page, 404, page.t("move.unknown_tenant", tenant=tenant[:20]))
    if not SITE_NAME.match(chosen_site) or not _known_site(platform, chosen_site):
        return refused(page, 404, page.t("platform.unknown_site", site=chosen_site[:63]))
    number = page_number(page_no)
    try:
        rows = await platform.quarantine(
            chosen_site,
            tenant,
            resolved=resolved == "1",
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
    except PlatformRefused as refusal:
        return page.render(
            "staff/platform_quarantine.html",
            status=502,
            served=served_here(page),
            rows=None,
            error=page.localized(str(refusal)),
            **context,
        )
    query = {"tenant": tenant, "site": chosen_site, "resolved": "1" if resolved == "1" else ""}
    return page.render(
        "staff/platform_quarantine.html",
        served=served_here(page),
        rows=rows[:PAGE_SIZE],
        error="",
        page_no=number,
        has_next=len(rows) > PAGE_SIZE,
        query_string=urlencode({k: v for k, v in query.items() if v}),
        **context,
    )


async def _entry_or_refusal(
    page: Page, platform: Platform, site: str, tenant: str, entry: str
) -> tuple[QuarantinedRow | None, Response | None]:
    if not TENANT_CODE.match(tenant) or tenant not in platform.tenant_codes():
        return None, refused(page, 404, page.t("move.unknown_tenant", tenant=tenant[:20]))
    if not SITE_NAME.match(site) or not _known_site(platform, site):
        return None, refused(page, 404, page.t("platform.unknown_site", site=site[:63]))
    if not entry.isdigit() or len(entry) > 18:
        return None, refused(page, 404, page.t("quarantine.no_entry", entry=entry[:20]))
    try:
        return await platform.quarantined_entry(site, tenant, int(entry)), None
    except PlatformRefused as refusal:
        return None, refused(page, 404, page.localized(str(refusal)))


def _resolve_page(
    page: Page, row: QuarantinedRow | None, error: str = "", by: str = "", note: str = ""
) -> Response:
    return page.render(
        "staff/platform_resolve.html",
        status=422 if error else 200,
        section="platform",
        subsection="quarantine",
        served=served_here(page),
        row=row,
        error=error,
        by=by,
        note=note,
    )


@router.get("/quarantine/confirm")
async def confirm_resolve(
    page: StaffPage,
    tenant: Annotated[str, Query()] = "",
    site: Annotated[str, Query()] = "",
    entry: Annotated[str, Query()] = "",
) -> Response:
    """The confirmation step: the entry as kept, who reconciled it and how."""
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    row, refusal = await _entry_or_refusal(page, platform, site, tenant, entry)
    if refusal is not None:
        return refusal
    return _resolve_page(page, row)


@router.post("/quarantine/resolve")
async def resolve_entry(
    page: StaffPage,
    tenant: Annotated[str, Form()] = "",
    site: Annotated[str, Form()] = "",
    entry: Annotated[str, Form()] = "",
    by: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    platform = operator_form(page, csrf_token)
    if isinstance(platform, Response):
        return platform
    row, refusal = await _entry_or_refusal(page, platform, site, tenant, entry)
    if refusal is not None:
        return refusal
    who, how = operator_name(by), note.strip()[:2000]
    if confirm.strip() != entry:
        return _resolve_page(page, row, page.t("quarantine.confirm_mismatch"), who, how)
    if not who or not how:
        return _resolve_page(page, row, page.t("quarantine.by_note_needed"), who, how)
    try:
        done = await platform.resolve_quarantined(site, tenant, int(entry), by=who, note=how)
    except PlatformRefused as refusal_of_site:
        return _resolve_page(page, row, page.localized(str(refusal_of_site)), who, how)
    log.info("operator %r resolved quarantined entry %s at %s (%s)", who, entry, site, tenant)
    return page.render(
        "staff/platform_resolved.html",
        section="platform",
        subsection="quarantine",
        served=served_here(page),
        row=done,
    )


# --------------------------------------------------------------------------- evacuation


def _evacuation_page(
    page: Page,
    site: str,
    plan: list[tuple[str, str | None]],
    error: str = "",
    reason: str = "",
    operator: str = "",
) -> Response:
    return page.render(
        "staff/platform_evacuate.html",
        status=422 if error else 200,
        section="platform",
        subsection="overview",
        served=served_here(page),
        site=site,
        plan=plan[:PLAN_SHOWN],
        planned=len(plan),
        stranded=sum(1 for _, target in plan if target is None),
        error=error,
        reason=reason,
        operator=operator,
    )


@router.get("/evacuations/confirm")
async def confirm_evacuation(page: StaffPage, site: Annotated[str, Query()] = "") -> Response:
    """The confirmation step: which tenants move off the site, and where."""
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    if not SITE_NAME.match(site) or not _known_site(platform, site):
        return refused(page, 404, page.t("platform.unknown_site", site=site[:63]))
    try:
        plan = await platform.plan_evacuation(site)
    except MoveNotAllowed as refusal:
        return refused(page, 503, page.localized(str(refusal)))
    return _evacuation_page(page, site, plan)


@router.post("/evacuations")
async def evacuate(
    page: StaffPage,
    site: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    operator: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    platform = operator_form(page, csrf_token)
    if isinstance(platform, Response):
        return platform
    if not SITE_NAME.match(site) or not _known_site(platform, site):
        return refused(page, 404, page.t("platform.unknown_site", site=site[:63]))
    who, why = operator_name(operator), " ".join(reason.split())[:300]
    if confirm.strip() != site or not who or not why:
        try:
            plan = await platform.plan_evacuation(site)
        except MoveNotAllowed as refusal:
            return refused(page, 503, page.localized(str(refusal)))
        message = "evacuation.confirm_mismatch" if confirm.strip() != site else "evacuation.needs"
        return _evacuation_page(page, site, plan, page.t(message), why, who)
    try:
        outcome = await platform.evacuate(site, reason=why, operator=who)
    except MoveNotAllowed as refusal:
        return refused(page, 422, page.localized(str(refusal)))
    log.info(
        "operator %r: evacuation of %s (%s): %d moved, %d failed",
        who,
        site,
        why,
        len(outcome.moved),
        len(outcome.failed),
    )
    return page.render(
        "staff/platform_evacuated.html",
        status=200 if not outcome.failed else 409,
        section="platform",
        subsection="overview",
        served=served_here(page),
        outcome=outcome,
        moved=outcome.moved[:PLAN_SHOWN],
        failed=outcome.failed[:PLAN_SHOWN],
    )


# --------------------------------------------------------------------------- drills


@router.get("/drills")
def drill_history(page: StaffPage, page_no: Annotated[str, Query(alias="page")] = "1") -> Response:
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    number = page_number(page_no)
    rows, total = platform.drills(offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return page.render(
        "staff/platform_drills.html",
        section="platform",
        subsection="drills",
        served=served_here(page),
        rows=rows,
        total=total,
        **pager(number, total),
    )


@router.get("/drills/{name:path}")
def drill_report(page: StaffPage, name: str) -> Response:
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    found = platform.drill(name) if DRILL_NAME.match(name) else None
    if found is None:
        return refused(page, 404, page.t("drills.unknown", name=name[:100]))
    row, report = found
    return page.render(
        "staff/platform_drill.html",
        section="platform",
        subsection="drills",
        served=served_here(page),
        row=row,
        report=report,
    )


# --------------------------------------------------------------------------- alerts


@router.get("/alerts")
def alerts_received(
    page: StaffPage, page_no: Annotated[str, Query(alias="page")] = "1"
) -> Response:
    platform = operator_platform(page)
    if isinstance(platform, Response):
        return platform
    number = page_number(page_no)
    rows, total = platform.alerts(offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return page.render(
        "staff/platform_alerts.html",
        section="platform",
        subsection="alerts",
        served=served_here(page),
        rows=rows,
        total=total,
        **pager(number, total),
    )
