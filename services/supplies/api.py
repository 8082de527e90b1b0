"""Relief supplies' HTTP API: one router, mounted by the site under /api/v1/{tenant}."""

from __future__ import annotations

from fastapi import APIRouter

from supplies.catalogue.api import router as catalogue_router
from supplies.evacuees.api import router as evacuees_router
from supplies.exchange.api import router as exchange_router
from supplies.needs.api import router as needs_router
from supplies.places.api import router as places_router
from supplies.requests.api import router as requests_router
from supplies.shipments.api import router as shipments_router
from supplies.stock.api import router as stock_router

router = APIRouter()
# evacuees before places: /supplies/shelters/occupancy is not a shelter called "occupancy"
for concept in (catalogue_router, evacuees_router, places_router, stock_router, needs_router):
    router.include_router(concept)
for concept in (requests_router, shipments_router, exchange_router):
    router.include_router(concept)
