"""Fixtures: a cluster of in-process sites, each on its own database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import _fresh_postgres_database
from tests.replication.harness import FAST, Cluster

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
async def cluster(
    site_urls: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Cluster]:
    # @pytest.mark.ack_timeout(S): a test that is not about dropping laggards gives a loaded
    # machine longer than FAST's 1.5 s before a replica leaves the in-sync set.
    marker = request.node.get_closest_marker("ack_timeout")
    config = FAST if marker is None else replace(FAST, ack_timeout=float(marker.args[0]))
    built = Cluster(site_urls, tmp_path, config=config)
    await built.start()
    try:
        yield built
    finally:
        await built.stop()
