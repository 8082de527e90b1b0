"""The shared interop fixtures (/work/shared/fixtures for a checkout at /work/main).

Missing is a failure, never a skip: a skipped check would pass CI without running."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"


def shared_fixtures_dir() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"shared interop fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES
