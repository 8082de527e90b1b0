"""The resident registry's HTTP API: one router, mounted by the site under /api/v1/{tenant}."""

from __future__ import annotations

from fastapi import APIRouter

from residents.assistance.api import router as assistance_router
from residents.csvio.api import router as files_router
from residents.directory.api import router as directory_router
from residents.registry.api import router as registry_router
from residents.search.api import router as search_router

router = APIRouter()
for concept in (search_router, registry_router, assistance_router, directory_router, files_router):
    router.include_router(concept)
