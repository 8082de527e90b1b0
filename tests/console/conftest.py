"""Fixtures of the console's browser tests (tests/console/support/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.support.browser import ConsoleNode, chromium, console_node


@pytest.fixture(scope="package")
def node() -> Iterator[ConsoleNode]:
    """One site node for every console test (seeding it takes seconds): tests change
    only what no other test reads (their own campaign, imports into 千代田区)."""
    with console_node() as running:
        yield running


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Package scope, not session: Playwright's sync API runs an event loop in this thread
    until it stops, and every later test that calls asyncio.run would fail ("cannot be
    called from a running event loop"); it stops when the console's tests are done."""
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1280 × 800, Japanese."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()
