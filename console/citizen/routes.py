"""The citizens' pages (no sign-in): a municipality's page listing the campaigns that
take reports now (with the open form and the family search), the one-tap report page
of a signed link, the open report form, the family search, and the service worker that
keeps them offline.

A report is sent by the page's script (static/citizen.js): kept first in the phone's
IndexedDB outbox with its client-generated id, then posted to this site or, when it
fails, to the next site the server listed in the page. The search is a plain form
(POST, so names stay out of URLs and logs) answered through the platform's own API.
"""

from __future__ import annotations

import json
from pathlib import Path as FilePath
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response

from console.citizen.sites import other_site_origins
from console.common.api import API_ROOT, call_api
from console.common.security import policy_connecting
from console.common.times import local_time
from console.common.web import CONSOLE_PREFIX, CsrfChecked, Page, page_for

CITIZEN_PREFIX = CONSOLE_PREFIX + "/citizen"
#: Japanese, English and やさしい日本語 (plain Japanese: a private-use tag of Japanese)
CITIZEN_LANGUAGES = ("ja", "en", "ja-x-easy")
ONE_TAP_STATUSES = ("safe", "injured", "needs_help", "at_shelter")
FORM_STATUSES = (*ONE_TAP_STATUSES, "believed_alive", "believed_missing")
FORM_REPORTERS = ("family", "resident", "supporter")
SERVICE_WORKER = FilePath(__file__).parent / "static" / "sw.js"

router = APIRouter(prefix=CITIZEN_PREFIX, include_in_schema=False)
CitizenPage = Annotated[Page, Depends(page_for(CITIZEN_LANGUAGES, follow_browser=True))]
TenantCode = Annotated[str, Path(pattern=r"^[0-9]{6}$")]
LinkToken = Annotated[str, Path(min_length=87, max_length=87, pattern=r"^[A-Za-z0-9_-]+$")]
CampaignId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


def _report_page(page: Page, template: str, endpoint: str, **context: Any) -> Response:
    """A page that sends a report: it names every site it may send to (this one first, as
    "" = same origin) and its CSP lets it connect to them, nothing else."""
    others = other_site_origins(page.request.app.state.yui.settings)
    response = page.render(
        template,
        sites=json.dumps(["", *others]),
        endpoint=endpoint,
        **context,
    )
    response.headers["content-security-policy"] = policy_connecting(others)
    return response


@router.get("/{tenant}/r/{token}")
async def one_tap(page: CitizenPage, tenant: TenantCode, token: LinkToken) -> Response:
    answer = await call_api(page.request, "GET", tenant, f"/safety/links/{token}")
    if not answer.ok:
        return page.render(
            "common/error.html",
            status=answer.status,
            served=answer.served,
            message=page.localized(answer.problem),
        )
    return _report_page(
        page,
        "citizen/report.html",
        API_ROOT.format(tenant=tenant) + f"/safety/links/{token}/reports",
        campaign=answer.body,
        statuses=ONE_TAP_STATUSES,
        tenant=tenant,
    )


@router.get("/{tenant}/campaigns/{campaign_id}/form")
async def open_form(page: CitizenPage, tenant: TenantCode, campaign_id: CampaignId) -> Response:
    return _report_page(
        page,
        "citizen/form.html",
        API_ROOT.format(tenant=tenant) + f"/safety/campaigns/{campaign_id}/form",
        statuses=FORM_STATUSES,
        reporters=FORM_REPORTERS,
        tenant=tenant,
    )


@router.get("/search")
def search_form(page: CitizenPage) -> Response:
    return page.render("citizen/search.html", answer=None, error="", name="", birth_date="")


@router.post("/search", dependencies=[CsrfChecked])
async def search(
    page: CitizenPage,
    name: Annotated[str, Form(max_length=100)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Only what the search API answers: a minimal status and its time per match."""
    status, body = await _search_everywhere(page.request, name, birth_date)
    ok = status == 200 and isinstance(body, dict)
    error = ""
    if ok:
        for place in body["found"]:
            for match in place["matches"]:
                match["shown_at"] = local_time(match.get("reported_at"))
    elif status == 422:
        error = page.t("citizen.search.invalid")
    else:
        detail = body.get("detail") if isinstance(body, dict) else None
        error = page.localized(detail if isinstance(detail, str) else str(status))
    return page.render(
        "citizen/search.html",
        status=status if not ok else 200,
        answer=body if ok else None,
        error=error,
        name=name,
        birth_date=birth_date,
    )


async def _search_everywhere(request: Request, name: str, birth_date: str) -> tuple[int, Any]:
    """POST /safety/v1/search through this node's whole app, as the citizen (their address
    counts for the search's limit)."""
    client = request.client
    transport = httpx.ASGITransport(
        app=request.app, client=(client.host, client.port) if client else ("127.0.0.1", 0)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://console.internal") as http:
        response = await http.post(
            "/safety/v1/search", json={"name": name, "birth_date": birth_date}, timeout=30
        )
    is_json = response.headers.get("content-type", "").split(";")[0].endswith("json")
    return response.status_code, response.json() if is_json else None


@router.get("/sw.js")
def service_worker() -> Response:
    """Served from the pages' folder (not /static) so that its scope covers them."""
    return Response(
        SERVICE_WORKER.read_bytes(),
        media_type="text/javascript",
        headers={"service-worker-allowed": CITIZEN_PREFIX + "/"},
    )


# Last: "/{tenant}" would otherwise take /search and /sw.js (and refuse them as no code).
@router.get("/{tenant}")
async def campaigns(page: CitizenPage, tenant: TenantCode) -> Response:
    """The municipality's campaigns taking reports now, each with the open form, and the
    family search: only what the public list answers (the municipality's name, each
    campaign's title and opening), never a drill. The service worker keeps the page for
    when the network is gone."""
    answer = await call_api(page.request, "GET", tenant, "/safety/open-campaigns")
    if not answer.ok:
        return page.render(
            "common/error.html",
            status=answer.status,
            served=answer.served,
            message=page.localized(answer.problem),
        )
    listed = [
        {**campaign, "shown_at": local_time(campaign["opened_at"])}
        for campaign in answer.body["campaigns"]
    ]
    return page.render(
        "citizen/campaigns.html",
        served=answer.served,
        municipality=answer.body["municipality"],
        campaigns=listed,
        tenant=tenant,
        section="campaigns",
    )
