"""Fixtures of the console's browser tests (tests/console/support/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.support.browser import ConsoleNode, chromium, console_node


@pytest.fixture(scope="package")
def node() -> Iterator[ConsoleNode]:
    """One site node for every console test (seeding it takes seconds): tests change
    only what no other test reads (their own campaign, imports into 千代田区). Every test
    reports from this machine's one address, so the one-tap links' per-address budget (30 a
    minute) is raised for them: the dashboard test's reports met other tests' in one minute
    and got 429 (make test, 17:20)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YUI_SAFETY_LINK_REQUESTS_PER_MINUTE", "1000")
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
    """A fresh browser context (no cookies) at 1280 × 800, Japanese. Every console page
    it opens must come with the strict Content-Security-Policy, and the browser must
    have refused nothing under it (an inline script or style, a CDN's file)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if _refused(message) else None)
    page.on("response", lambda response: refused.extend(_without_policy(response)))
    try:
        yield page
    finally:
        context.close()
    assert refused == []


def _refused(message: Any) -> bool:
    return bool(message.type == "error" and "Content Security Policy" in message.text)


def _without_policy(response: Any) -> list[str]:
    """The page's URL when a console page came without the strict policy."""
    if response.request.resource_type != "document" or "/console/" not in response.url:
        return []
    policy = response.headers.get("content-security-policy", "")
    if "script-src 'self';" in policy and "unsafe-" not in policy:
        return []
    return [f"{response.url}: {policy!r}"]
