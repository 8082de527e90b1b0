"""Relief supplies' HTTP API: one router, mounted by the site under /api/v1/{tenant}."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
