"""The staff console in a real browser: sign in and see the dashboard, the switcher,
a revoked sign-in, sign-out."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from residents.registry.models import Resident
from safety_check.links.service import LinkMaker
from tests.console.staff.test_residents import audited
from tests.console.support.browser import (
    PASSWORD,
    RESIDENTS,
    STAFF,
    ConsoleNode,
    assert_accessible,
    screenshot,
    sign_in,
)
from yui.auth.tokens import SigningKeys


def api_token(node: ConsoleNode, tenant: str, username: str = STAFF) -> str:
    answer = httpx.post(
        f"{node.url}/api/v1/{tenant}/auth/token",
        json={"username": username, "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


REPORTED = 12


def report_through_links(node: ConsoleNode, campaign_id: str, count: int) -> None:
    """``count`` residents (the first by number) report through their one-tap links."""
    maker = LinkMaker(SigningKeys(node.signing_key), url="/api/v1/{tenant}/safety/links/{token}")
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        people = uow.session.execute(
            select(Resident.id).order_by(Resident.resident_no).limit(count)
        ).scalars()
        links = [maker.link(node.tenant, campaign_id, person) for person in people]
    statuses = ("safe", "safe", "injured", "at_shelter", "needs_help")
    for index, link in enumerate(links):
        answer = httpx.post(
            f"{node.url}{link}/reports",
            json={
                "id": str(uuid.uuid4()),
                "status": statuses[index % len(statuses)],
                "reported_at": datetime.now(UTC).isoformat(),
            },
        )
        assert answer.status_code == 201, answer.text


def test_sign_in_and_see_the_dashboard(node: ConsoleNode, page: Any) -> None:
    token = api_token(node, node.tenant)
    opened = httpx.post(
        f"{node.url}/api/v1/{node.tenant}/safety/campaigns",
        headers={"authorization": f"Bearer {token}"},
        json={"title": "12月 宮城県沖地震", "kind": "live"},
    )
    assert opened.status_code == 201, opened.text
    lists_before = audited(node, "safety.unconfirmed_list")
    visits_before = audited(node, "safety.visit_list")
    page.goto(f"{node.url}/console/")
    assert page.url.endswith("/console/sign-in")
    assert_accessible(page)
    screenshot(page, "sign-in")
    sign_in(page, node)
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
    assert page.get_by_role("heading", name="災害対応ダッシュボード").is_visible()
    served = page.get_by_test_id("served")
    assert "console-test" in served.inner_text()
    # every registered resident is unconfirmed before the first report
    assert page.get_by_test_id("total-residents").inner_text() == str(RESIDENTS)
    assert page.get_by_test_id("total-unconfirmed").inner_text() == str(RESIDENTS)
    assert page.get_by_test_id("unconfirmed-table").locator("tbody tr").count() > 0
    # the needs-assistance register first, then everyone else (the 4th column: its badge)
    assistance = [
        bool(text.strip())
        for text in page.get_by_test_id("unconfirmed-table")
        .locator("tbody tr td:nth-child(4)")
        .all_inner_texts()
    ]
    assert assistance[0] and not all(assistance), assistance
    assert assistance == sorted(assistance, reverse=True), assistance
    # the list names residents: each time it is shown, the safety confirmation's audit says so
    assert audited(node, "safety.unconfirmed_list") > lists_before
    assert "回答 0.0%" in page.get_by_test_id("response-rates").inner_text()
    # a tenth of the residents report through their links: the counts and the curve move
    report_through_links(node, opened.json()["id"], REPORTED)
    page.goto(f"{node.url}/console/t/{node.tenant}/?campaign={opened.json()['id']}")
    assert page.get_by_test_id("total-unconfirmed").inner_text() == str(RESIDENTS - REPORTED)
    rate = f"回答 {100 * REPORTED / RESIDENTS:.1f}%"  # 10.0 %
    assert rate in page.get_by_test_id("response-rates").inner_text()
    screenshot(page, "dashboard")
    assert_accessible(page)
    # the door-to-door visit list of the first district with unconfirmed residents, to print
    district = page.get_by_label("未確認者のいる町字")
    town = district.locator("option").first.get_attribute("value")
    page.get_by_role("button", name="訪問リスト").click()
    page.wait_for_url(re.compile(r"/safety/[0-9a-f-]{36}/visits\?town="))
    assert page.get_by_role("heading", level=1).inner_text() == f"戸別訪問リスト: {town}"
    assert page.get_by_test_id("visits").locator("tbody tr").count() > 0
    assert audited(node, "safety.visit_list") > visits_before
    screenshot(page, "visits")
    assert_accessible(page)
    # the review queue: no report yet, so nothing disagrees
    page.go_back()
    page.get_by_role("link", name="報告の食い違いを確認する").click()
    assert "いません" in page.get_by_test_id("review-empty").inner_text()
    assert_accessible(page)


def test_wrong_password_says_so_and_signs_nobody_in(node: ConsoleNode, page: Any) -> None:
    page.goto(f"{node.url}/console/sign-in")
    page.get_by_label("自治体コード（6桁）").fill(node.tenant)
    page.get_by_label("ユーザー名").fill(STAFF)
    page.get_by_label("パスワード").fill("not the password")
    page.get_by_role("button", name="ログイン").click()
    error = page.get_by_test_id("sign-in-error")
    assert "違います" in error.inner_text()
    page.goto(f"{node.url}/console/t/{node.tenant}/")
    assert "/console/sign-in" in page.url


def test_switcher_between_municipalities_and_sign_out(node: ConsoleNode, page: Any) -> None:
    sign_in(page, node)
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
    page.get_by_role("link", name="別の自治体にログイン").click()
    sign_in(page, node, tenant=node.other_tenant)
    page.wait_for_url(re.compile(r"/console/t/131016/$"))
    switch = page.get_by_test_id("tenant-switch")
    assert switch.locator("option").all_inner_texts() == ["仙台市（041009）", "千代田区（131016）"]
    switch.select_option(node.tenant)
    page.get_by_role("button", name="切替").click()
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
    page.get_by_test_id("sign-out").click()
    page.wait_for_url(re.compile(r"/console/sign-in"))
    assert "ログアウトしました" in page.content()
    # signed out at the API too: the old page no longer opens
    page.goto(f"{node.url}/console/t/{node.other_tenant}/")
    assert "/console/sign-in" in page.url


def test_a_revoked_sign_in_ends_the_session_with_a_notice(node: ConsoleNode, page: Any) -> None:
    sign_in(page, node)
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
    # the same person signs out on another device: every token of the account ends
    token = api_token(node, node.tenant)
    ended = httpx.post(
        f"{node.url}/api/v1/{node.tenant}/auth/sign-out",
        headers={"authorization": f"Bearer {token}"},
    )
    assert ended.status_code == 204
    page.reload()
    page.wait_for_url(re.compile(r"/console/sign-in\?"))
    assert "有効期限が切れました" in page.get_by_test_id("expired").inner_text()


def test_an_open_page_goes_to_the_sign_in_page_when_its_sign_in_ends(
    node: ConsoleNode, page: Any
) -> None:
    """Nobody clicks: the page itself leaves when the token's 15 minutes are over (the
    browser's clock is moved on), and the sign-in page says why."""
    page.clock.install()
    sign_in(page, node)
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
    page.clock.run_for("14:00")
    assert page.url.endswith("/console/t/041009/")
    page.clock.run_for("01:05")
    page.wait_for_url(re.compile(r"/console/sign-in\?tenant=041009&expired=1$"))
    assert "有効期限が切れました" in page.get_by_test_id("expired").inner_text()


def focused(page: Any) -> str:
    """What has the keyboard's focus: its id, else its text."""
    return str(
        page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
    )


def test_sign_in_with_the_keyboard_only(node: ConsoleNode, page: Any) -> None:
    """The skip link first, then the form's fields in the order they are read."""
    page.goto(f"{node.url}/console/sign-in")
    page.keyboard.press("Tab")
    assert focused(page) == "本文へ移動"
    page.keyboard.press("Enter")  # past the header to the page's own content
    order = []
    for text in (node.tenant, STAFF, PASSWORD):
        page.keyboard.press("Tab")
        order.append(focused(page))
        page.keyboard.type(text)
    assert order == ["tenant", "username", "password"]
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
