"""Safety confirmation's HTTP API: one router, mounted by the site under /api/v1/{tenant}."""

from __future__ import annotations

from fastapi import APIRouter

from safety_check.campaigns.api import router as campaigns_router
from safety_check.links.api import router as links_router
from safety_check.outreach.api import router as outreach_router
from safety_check.pfif.api import router as pfif_router
from safety_check.reports.api import router as reports_router
from safety_check.reports.form_api import router as form_router
from safety_check.search.api import public_router as search_public_router
from safety_check.search.api import router as search_router
from safety_check.subscriptions.api import router as subscriptions_router
from safety_check.supporters.api import router as supporters_router
from safety_check.views.api import router as views_router

router = APIRouter()
for concept in (
    campaigns_router,
    reports_router,
    views_router,
    form_router,
    supporters_router,
    links_router,
    search_router,
    pfif_router,
    subscriptions_router,
    outreach_router,
):
    router.include_router(concept)

#: routes mounted at the site's root (not under one tenant): the search across municipalities
public_router = APIRouter()
public_router.include_router(search_public_router)
