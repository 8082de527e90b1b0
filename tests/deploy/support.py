"""What the deployment tests share: the repository root and the shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shared_fixtures import shared_fixtures_dir

ROOT = Path(__file__).resolve().parents[2]


def shared_fixture(relative: str) -> Path:
    """A file of the shared interop fixtures (/work/shared/fixtures for a checkout at
    /work/main). Missing is a failure, not a skip: the validation would silently not run."""
    path = shared_fixtures_dir() / relative
    if not path.is_file():
        pytest.fail(f"shared fixture not found: {path} (the deployment checks need it)")
    return path
