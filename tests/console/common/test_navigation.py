"""Every page is reachable from navigation: from the dashboard a staff member lands on,
and from the address a municipality announces to its citizens, following links (and
forms that ask for a page) reaches every page of the console, but for those listed
below with the reason they are reached otherwise. A page added without a way to it
fails here. (The operators' pages: tests/console/staff/test_platform_pages.py.)"""

from __future__ import annotations

import time

import httpx

from console.common.session import SESSION_COOKIE, Session, SessionCodec, TenantSignIn
from tests.console.staff.test_sign_in import api_token
from tests.console.support.browser import ConsoleNode
from tests.console.support.crawl import page_routes, reached

T = "/console/t/{tenant}"
#: pages no link leads to, by design, and where each is reached instead
NOT_LINKED = {
    "/console": "redirects to /console/",
    "/console/": "redirects to the dashboard or the sign-in page",
    f"{T}/imports/{{import_id}}": "an import's page: starting an import opens it",
    f"{T}/imports/{{import_id}}/state": "the import page's script asks it for the progress",
    f"{T}/supplies/": "redirects to the shelters (the menu links them)",
    "/console/citizen/{tenant}/r/{token}": "the signed link a person is sent",
    "/console/citizen/sw.js": "the service worker, registered by the citizens' pages",
}
#: the supplies pages of one record: reached from their lists in test_supplies.py (this
#: node's supplies hold only what other tests left)
OF_A_RECORD = {
    f"{T}/supplies/shelters/{{shelter}}/desk",
    f"{T}/supplies/requests/{{request_id}}",
    f"{T}/supplies/requests/{{request_id}}/approve",
    f"{T}/supplies/requests/{{request_id}}/dispatch",
    f"{T}/supplies/shipments/{{shipment_id}}/receive",
    f"{T}/supplies/allocation/{{request_id}}/change",
    f"{T}/supplies/donations/{{offer_id}}/{{decision}}",
}
#: the operators' pages past the overview and its sign-in need a cluster (a lone node
#: has none)
PLATFORM_PAGES = "/console/platform/"
OPERATOR_SIGN_IN = "/console/platform/sign-in"


def test_every_staff_and_citizen_page_is_reached_from_navigation(node: ConsoleNode) -> None:
    app = node.extra["app"]
    token = api_token(node, node.tenant)
    campaigns = f"{node.url}/api/v1/{node.tenant}/safety/campaigns"
    headers = {"authorization": f"Bearer {token}"}
    opened = httpx.post(campaigns, headers=headers, json={"title": "道案内", "kind": "live"})
    assert opened.status_code == 201, opened.text
    session = Session()
    session.add(
        TenantSignIn(
            tenant=node.tenant,
            token=token,
            username="sato",
            roles=("staff",),
            expires_at=int(time.time()) + 600,
            name="仙台市",
        )
    )
    cookies = {SESSION_COOKIE: SessionCodec(node.signing_key).dumps(session)}
    try:
        with httpx.Client(base_url=node.url, cookies=cookies) as client:
            found = reached(
                client,
                app,
                [
                    f"/console/t/{node.tenant}/?campaign={opened.json()['id']}",
                    f"/console/citizen/{node.tenant}",
                ],
            )
    finally:
        httpx.post(f"{campaigns}/{opened.json()['id']}/close", headers=headers)
    expected = {
        path
        for path in page_routes(app)
        if path not in NOT_LINKED
        and path not in OF_A_RECORD
        and (path == OPERATOR_SIGN_IN or not path.startswith(PLATFORM_PAGES))
    }
    assert sorted(expected - found) == []
    assert set(NOT_LINKED) | OF_A_RECORD <= set(page_routes(app)), "a listed page is gone"
