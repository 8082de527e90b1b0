"""Mounting the console on a site node (called by the composition root): every site
serves every page, so the console survives the loss of any site."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from console.common.routes import router as common_router
from console.common.security import SecurityHeaders
from console.common.web import CONSOLE_PREFIX, STATIC_PREFIX, ConsoleKit
from console.staff.platform import Platform

HERE = Path(__file__).parent


def mount_console(
    app: FastAPI, *, site: str, signing_key: bytes, platform: Platform | None = None
) -> ConsoleKit:
    """Serve the console's pages, static files and security headers from ``app``;
    ``platform``: the cluster the operators' pages show and move (None: a lone node)."""
    from console.citizen.cors import CitizenReportsCors
    from console.citizen.routes import router as citizen_router
    from console.citizen.sites import site_origins
    from console.staff.imports import router as imports_router
    from console.staff.platform import router as platform_router
    from console.staff.platform_pages import router as platform_pages_router
    from console.staff.residents import router as residents_router
    from console.staff.routes import router as staff_router
    from console.staff.safety import router as safety_router
    from console.staff.signin import SignInNeeded

    kit = ConsoleKit(site=site, signing_key=signing_key)
    kit.add_pages("common", HERE / "common")
    kit.add_pages("staff", HERE / "staff")
    kit.add_pages("citizen", HERE / "citizen")
    app.state.console = kit
    app.state.console_platform = platform
    for name, folder in kit.static_folders.items():
        app.mount(f"{STATIC_PREFIX}/{name}", StaticFiles(directory=folder), name=f"static-{name}")
    app.include_router(common_router)
    app.include_router(citizen_router)
    for router in (
        staff_router,
        residents_router,
        imports_router,
        platform_router,
        platform_pages_router,
        safety_router,
    ):
        app.include_router(router)

    @app.get(CONSOLE_PREFIX, include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse(CONSOLE_PREFIX + "/", status_code=307)

    @app.exception_handler(SignInNeeded)
    async def to_sign_in(_request: Request, error: Exception) -> Response:
        assert isinstance(error, SignInNeeded)
        return error.page.redirect(error.target)

    app.add_middleware(SecurityHeaders, prefixes=(CONSOLE_PREFIX,), static_prefix=STATIC_PREFIX)
    # a citizen's page may post its report to another site of the topology
    app.add_middleware(CitizenReportsCors, origins=site_origins(app.state.yui.settings))
    return kit
