"""The staff console's routes (every page's URL is under /console)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from console.common.api import call_api
from console.common.session import TenantSignIn
from console.common.web import CONSOLE_PREFIX, CsrfChecked, StaffPage, safe_next
from console.staff.dashboard import dashboard_page
from console.staff.signin import TENANT_CODE, Staff, sign_in_url
from console.staff.supplies import router as supplies_router
from console.staff.supplies_allocation import router as supplies_allocation_router
from console.staff.supplies_donations import router as supplies_donations_router
from console.staff.supplies_flow import router as supplies_flow_router

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
router.include_router(supplies_router)
router.include_router(supplies_flow_router)
router.include_router(supplies_allocation_router)
router.include_router(supplies_donations_router)


def home_of(tenant: str) -> str:
    return f"{CONSOLE_PREFIX}/t/{tenant}/"


@router.get("/")
def console_home(page: StaffPage) -> Response:
    current = page.session.current
    return page.redirect(home_of(current.tenant) if current else sign_in_url())


@router.get("/sign-in")
def sign_in_form(
    page: StaffPage,
    tenant: Annotated[str, Query(max_length=6)] = "",
    next_page: Annotated[str, Query(alias="next", max_length=500)] = "",
    expired: Annotated[bool, Query()] = False,
    signed_out: Annotated[bool, Query()] = False,
) -> Response:
    notice = expired or page.session.expired_notice
    if page.session.expired_notice:
        page.session.expired_notice = False
        page.session.changed = True
    return page.render(
        "staff/sign_in.html",
        tenant=tenant if TENANT_CODE.match(tenant) else "",
        username="",
        next_page=next_page,
        expired=notice,
        signed_out=signed_out,
        error="",
    )


@router.post("/sign-in", dependencies=[CsrfChecked])
async def sign_in(
    page: StaffPage,
    tenant: Annotated[str, Form(max_length=20)],
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next_page: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    tenant = tenant.strip()

    def again(message: str, status: int) -> Response:
        return page.render(
            "staff/sign_in.html",
            status=status,
            tenant=tenant if TENANT_CODE.match(tenant) else "",
            username=username,
            next_page=next_page,
            expired=False,
            signed_out=False,
            error=message,
        )

    if not TENANT_CODE.match(tenant):
        return again(page.t("sign_in.bad_tenant"), 422)
    answer = await call_api(
        page.request,
        "POST",
        tenant,
        "/auth/token",
        json={"username": username, "password": password},
    )
    if answer.status in (401, 404):
        # An unknown municipality and a wrong password look the same: nothing to learn.
        return again(page.t("sign_in.wrong"), 401)
    if not answer.ok:
        return again(page.localized(answer.problem), answer.status)
    token = str(answer.body["access_token"])
    about = await call_api(page.request, "GET", tenant, "", token=token)
    page.session.add(
        TenantSignIn(
            tenant=tenant,
            token=token,
            username=username,
            roles=tuple(str(role) for role in answer.body["roles"]),
            expires_at=int(time.time()) + int(answer.body["expires_in"]),
            name=str(about.body.get("name", "")) if about.ok else "",
        )
    )
    return page.redirect(
        safe_next(next_page, home_of(tenant))
        if next_page.startswith(f"{CONSOLE_PREFIX}/t/{tenant}/")
        else home_of(tenant)
    )


@router.post("/sign-out", dependencies=[CsrfChecked])
async def sign_out(page: StaffPage) -> Response:
    """Ends the tokens of every municipality signed in (the API ends every token of each
    account, on every device), then the session."""
    for held in list(page.session.sign_ins.values()):
        await call_api(page.request, "POST", held.tenant, "/auth/sign-out", token=held.token)
    page.session.clear()
    return page.redirect(f"{CONSOLE_PREFIX}/sign-in?signed_out=1")


@router.post("/switch", dependencies=[CsrfChecked])
def switch(page: StaffPage, tenant: Annotated[str, Form(max_length=6)]) -> Response:
    if tenant not in page.session.sign_ins:
        return page.redirect(sign_in_url(tenant if TENANT_CODE.match(tenant) else ""))
    page.session.active = tenant
    page.session.changed = True
    return page.redirect(home_of(tenant))


@router.get("/t/{tenant}/")
async def dashboard(
    staff: Staff,
    campaign: Annotated[str, Query(max_length=36)] = "",
    cursor: Annotated[str, Query(max_length=36)] = "",
) -> Response:
    if not staff.has_role("staff", "auditor") and staff.has_role("shelter", "depot"):
        # a shelter's or a depot's account reads no safety confirmation: its home is supplies
        landing = "shelters" if staff.has_role("shelter") else "requests"
        return staff.page.redirect(f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/{landing}")
    return await dashboard_page(staff, campaign, cursor)
