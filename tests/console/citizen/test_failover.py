"""The site a citizen's page came from goes down, before the tap or while the report is
on its way (it stored the report, then died before answering): the page sends the
report to the next site the server listed (another origin: CORS and the page's CSP let
it), and the report lands once (the next site knows its id: recorded already). Two site nodes in this process share one database, as a
forwarding site and the municipality's primary would: what matters here is the browser's
way to the second site."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from assembly.sandbox.etcd import free_ports
from assembly.site import create_app
from residents.demo.service import generate
from residents.registry.models import Resident
from safety_check.links.service import LinkMaker
from safety_check.reports.models import Report
from tests.console.support.browser import PASSWORD, STAFF
from tests.support import factories
from tests.support.servers import serving
from yui.auth.tokens import SigningKeys
from yui.db.database import Database
from yui.settings import load_settings

SITES = ("site-a", "site-b")
SECRET = "citizen-failover-key-" + "k" * 32


def topology(urls: dict[str, str]) -> str:
    return "".join(
        f'[[site]]\nname = "{name}"\nprovider = "test"\nregion = "r{index}"\n'
        f'hazard_zones = ["z{index}"]\nlatitude = 35.0\nlongitude = 139.0\nurl = "{url}"\n\n'
        for index, (name, url) in enumerate(urls.items())
    )


@pytest.fixture
def two_sites() -> Iterator[tuple[ExitStack, dict[str, str], Database]]:
    """site-a and site-b serving one database; the first's ExitStack stops it."""
    with tempfile.TemporaryDirectory(prefix="yui-citizen-") as folder, ExitStack() as both:
        data = Path(folder)
        ports = dict(zip(SITES, free_ports(2), strict=True))
        urls = {name: f"http://localhost:{port}" for name, port in ports.items()}
        (data / "topology.toml").write_text(topology(urls))
        apps = {
            name: create_app(
                load_settings(
                    site=name,
                    data_dir=data / name,
                    database_url=f"sqlite:///{data / 'yui.db'}",
                    token_secret=SECRET,
                    log_json=False,
                    topology_file=data / "topology.toml",
                    allow_plain_http_peers=True,
                )
            )
            for name in SITES
        }
        db: Database = apps["site-b"].state.yui.db
        factories.tenant(db, factories.SENDAI, "仙台市")
        factories.user(db, factories.SENDAI, STAFF, "staff")
        generate(db, factories.SENDAI, 2, seed=3, actor="test")
        first = ExitStack()
        first.enter_context(serving(apps["site-a"], ports["site-a"]))
        both.callback(first.close)
        both.enter_context(serving(apps["site-b"], ports["site-b"]))
        yield first, urls, db


@pytest.mark.parametrize("killed", ["before the tap", "while the report is sent"])
def test_the_page_s_site_is_down_and_the_report_lands_through_the_next(
    two_sites: tuple[ExitStack, dict[str, str], Database], browser: Any, killed: str
) -> None:
    stop_first, urls, db = two_sites
    api = f"{urls['site-b']}/api/v1/{factories.SENDAI}"
    token = httpx.post(f"{api}/auth/token", json={"username": STAFF, "password": PASSWORD}).json()[
        "access_token"
    ]
    headers = {"authorization": f"Bearer {token}"}
    campaign = httpx.post(
        f"{api}/safety/campaigns", headers=headers, json={"title": "地震", "kind": "live"}
    ).json()["id"]
    with db.unit_of_work(factories.SENDAI, read_only=True) as uow:
        resident = uow.session.execute(select(Resident.id).limit(1)).scalar_one()
    maker = LinkMaker(SigningKeys(SECRET.encode()), url="/console/citizen/{tenant}/r/{token}")
    link = maker.link(factories.SENDAI, campaign, resident)

    context = browser.new_context(viewport={"width": 360, "height": 800}, locale="ja-JP")
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        answered: list[tuple[str, int]] = []
        page.on("response", lambda r: answered.append((r.url, r.status)))
        page.goto(urls["site-a"] + link)
        page.wait_for_load_state("networkidle")
        stored_at_a: list[int] = []
        if killed == "before the tap":
            stop_first.close()  # site-a is gone; the page is still open on the phone
        else:

            def store_then_die(route: Any) -> None:
                stored_at_a.append(route.fetch().status)  # site-a stores the report...
                stop_first.close()  # ...and is killed before its answer leaves
                route.abort()

            page.route(f"{urls['site-a']}/**/reports", store_then_die)
        page.get_by_role("button", name="無事です").click()
        page.locator("[data-outbox-status][data-state='sent']").wait_for()
    finally:
        context.close()
    reports = [(url.split("/api/")[0], status) for url, status in answered if "/reports" in url]
    if killed == "before the tap":
        assert reports == [(urls["site-b"], 201)], answered
    else:
        assert stored_at_a == [201]
        assert reports == [(urls["site-b"], 200)], answered  # recorded already, by its id
    with db.unit_of_work(factories.SENDAI, read_only=True) as uow:
        stored = uow.session.execute(
            select(Report.status).where(Report.campaign_id == campaign)
        ).scalars()
        assert list(stored) == ["safe"]
