"""Browser tests of the console: a real site node on a loopback port and Debian's
headless chromium driven by Playwright (never Playwright's own browser downloads).

Screenshots of key pages are saved at 1280 px and 360 px under
var/console-screenshots/ (in .gitignore): test artifacts, not committed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from assembly.site import create_app
from residents.demo.service import generate
from tests.support import factories
from tests.support.servers import serving
from yui.db.database import Database
from yui.settings import load_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "var" / "console-screenshots"
WIDTHS = (1280, 360)
#: the demo residents of each municipality of the node
RESIDENTS = 120
STAFF, AUDITOR, ADMIN = "sato", "kansa", "kanri"
#: the console node's token secret (its sites' token key)
TOKEN_SECRET = "console-test-key-" + "k" * 32
PASSWORD = factories.PASSWORD


@dataclass
class ConsoleNode:
    """A site node serving the console, with two municipalities: 仙台市 (residents,
    staff, an auditor, an admin) and 千代田区 (the staff member again: the switcher)."""

    url: str
    db: Database
    site: str
    #: the sites' token key (the console's session and CSRF keys derive from it)
    signing_key: bytes
    tenant: str = factories.SENDAI
    other_tenant: str = factories.CHIYODA
    extra: dict[str, Any] = field(default_factory=dict)


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{CHROMIUM} is required (scripts/bootstrap.sh --with-chromium)")
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap.sh --with-chromium)")


@contextmanager
def console_node(**settings: Any) -> Iterator[ConsoleNode]:
    """A lone site node (SQLite) on a free loopback port, seeded; ``settings`` override
    the node's settings."""
    with tempfile.TemporaryDirectory(prefix="yui-console-") as folder:
        data = Path(folder)
        config = load_settings(
            site="console-test",
            data_dir=data,
            database_url=f"sqlite:///{data / 'yui.db'}",
            token_secret=TOKEN_SECRET,
            log_json=False,
            # a revoked token stops at once (not after the sites' short account cache)
            **{"token_account_check_seconds": 0.0, **settings},
        )
        app = create_app(config)
        db: Database = app.state.yui.db
        factories.tenant(db, factories.SENDAI, "仙台市")
        factories.tenant(db, factories.CHIYODA, "千代田区")
        factories.user(db, factories.SENDAI, STAFF, "staff")
        factories.user(db, factories.SENDAI, AUDITOR, "auditor")
        factories.user(db, factories.SENDAI, ADMIN, "admin")
        factories.user(db, factories.CHIYODA, STAFF, "staff")
        generate(db, factories.SENDAI, RESIDENTS, seed=1, actor="test")
        with serving(app) as url:
            # localhost: a secure context for the browser, so Secure cookies hold over http
            yield ConsoleNode(
                url=url.replace("127.0.0.1", "localhost"),
                db=db,
                site=config.site,
                signing_key=config.signing_key(),
                extra={"app": app},
            )


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright (headless)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> list[Path]:
    """The page as it is now, full length, at each width (then back to 1280 px)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size({"width": WIDTHS[0], "height": 800})
    return saved


def assert_accessible(page: Any) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: " + "; ".join(bad)


def sign_in(page: Any, node: ConsoleNode, username: str = STAFF, tenant: str = "") -> None:
    page.goto(f"{node.url}/console/sign-in")
    page.get_by_label(re.compile("自治体コード|Municipality code")).fill(tenant or node.tenant)
    page.get_by_label(re.compile("ユーザー名|Username")).fill(username)
    page.get_by_label(re.compile("パスワード|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("^(ログイン|Sign in)$")).click()
