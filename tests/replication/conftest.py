"""Fixtures: a cluster of in-process sites, each on its own database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.conftest import _fresh_postgres_database
from tests.replication.harness import Cluster

SITES = ("site-a", "site-b", "site-c", "site-d")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def _postgres() -> Iterator[str]:
    generator = _fresh_postgres_database()
    url = next(generator)
    try:
        yield url
    finally:
        generator.close()


@pytest.fixture(params=["sqlite", "postgres"])
def site_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {name: f"sqlite:///{tmp_path / name}.db" for name in SITES}
        return
    with ExitStack() as stack:
        yield {name: stack.enter_context(_postgres()) for name in SITES}


@pytest.fixture
async def cluster(site_urls: dict[str, str], tmp_path: Path) -> AsyncIterator[Cluster]:
    built = Cluster(site_urls, tmp_path)
    await built.start()
    try:
        yield built
    finally:
        await built.stop()
