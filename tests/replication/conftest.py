"""Fixtures: a cluster of in-process sites, each on its own database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import MigratedSchemas, _fresh_postgres_database
from tests.replication.harness import FAST, Cluster

SITES = ("site-a", "site-b", "site-c", "site-d")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def _postgres(template: str | None = None) -> Iterator[str]:
    generator = _fresh_postgres_database(template)
    url = next(generator)
    try:
        yield url
    finally:
        generator.close()


@pytest.fixture(params=["sqlite", "postgres"])
def site_urls(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_schemas: MigratedSchemas
) -> Iterator[dict[str, str]]:
    """Empty databases, unless the test runs a ``cluster`` (which migrates every site
    first thing): then copies of one at head (tests/conftest.py, MigratedSchemas)."""
    migrated = migrated_schemas if "cluster" in request.fixturenames else None
    if request.param == "sqlite":
        paths = {name: tmp_path / f"{name}.db" for name in SITES}
        if migrated:
            yield {name: migrated.sqlite_copy(path) for name, path in paths.items()}
        else:
            yield {name: f"sqlite:///{path}" for name, path in paths.items()}
        return
    template = migrated.postgres_template() if migrated else None
    with ExitStack() as stack:
        yield {name: stack.enter_context(_postgres(template)) for name in SITES}


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
