"""The citizens' pages in a real browser: a report from a one-tap link (online, and made
offline then sent once when the network returns), the family search and the open form;
axe-core on each page; screenshots at 1280 px and 360 px."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from residents.registry.models import Resident
from safety_check.links.service import LinkMaker
from safety_check.reports.models import Report, Submission
from tests.console.staff.test_sign_in import api_token
from tests.console.support.browser import ConsoleNode, assert_accessible, screenshot
from yui.auth.tokens import SigningKeys

#: the report page's whole weight (HTML, styles, scripts) on a weak network
REPORT_PAGE_BUDGET_BYTES = 100_000


@pytest.fixture(scope="module")
def campaign(node: ConsoleNode) -> Iterator[str]:
    """A live campaign of 仙台市 for these tests, closed after them (the staff's
    dashboard test then sees its own)."""
    headers = {"authorization": f"Bearer {api_token(node, node.tenant)}"}
    api = f"{node.url}/api/v1/{node.tenant}/safety/campaigns"
    opened = httpx.post(api, headers=headers, json={"title": "宮城県沖地震", "kind": "live"})
    assert opened.status_code == 201, opened.text
    campaign_id = str(opened.json()["id"])
    yield campaign_id
    httpx.post(f"{api}/{campaign_id}/close", headers=headers)


def residents(node: ConsoleNode, count: int) -> list[Resident]:
    """Registered people no other console test touches (the last by number)."""
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(Resident)
                .where(Resident.dv_block.is_(False), Resident.status == "active")
                .order_by(Resident.resident_no.desc())
                .limit(count)
            ).scalars()
        )


def link_of(node: ConsoleNode, campaign_id: str, resident: Resident) -> str:
    maker = LinkMaker(SigningKeys(node.signing_key), url="/console/citizen/{tenant}/r/{token}")
    return node.url + maker.link(node.tenant, campaign_id, resident.id)


def reports_of(node: ConsoleNode, campaign_id: str, resident: Resident) -> list[Report]:
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(Report).where(
                    Report.campaign_id == campaign_id, Report.resident_id == resident.id
                )
            ).scalars()
        )


def assert_reflows(page: Any) -> None:
    """No sideways scrolling on a 360 px phone, nor at 200 % zoom there (180 CSS px)."""
    for width in (360, 180):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
    page.set_viewport_size({"width": 1280, "height": 800})


def outbox_says(page: Any, state: str) -> None:
    page.locator(f"[data-outbox-status][data-state='{state}']").wait_for()


def test_a_citizen_reports_from_a_one_tap_link(node: ConsoleNode, campaign: str, page: Any) -> None:
    person = residents(node, 1)[0]
    sizes: list[int] = []
    page.on("requestfinished", lambda request: sizes.append(_transferred(request)))
    page.goto(link_of(node, campaign, person))
    page.wait_for_load_state("networkidle")
    assert sum(sizes) < REPORT_PAGE_BUDGET_BYTES, sizes
    assert page.get_by_role("heading", level=1).inner_text() == "宮城県沖地震"
    # nothing about the person is in the page (the link is the credential, not a profile)
    assert person.family_name not in page.content() and person.id not in page.content()
    assert_accessible(page)
    screenshot(page, "citizen-report")
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate(_NARROWEST_TARGET) >= 44  # px: a thumb's size
    assert_reflows(page)

    page.get_by_label("伝えたいこと（任意）").fill("家族全員無事です")
    page.get_by_role("button", name="無事です").click()
    outbox_says(page, "sent")
    assert "届きました" in page.get_by_role("status").inner_text()
    stored = reports_of(node, campaign, person)
    assert [(r.status, r.note, r.source) for r in stored] == [
        ("safe", "家族全員無事です", "one_tap")
    ]


def test_the_pages_follow_the_browser_language_and_the_switch(
    node: ConsoleNode, campaign: str
) -> None:
    link = link_of(node, campaign, residents(node, 3)[2])
    english = httpx.get(link, headers={"accept-language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text and "I am safe" in english.text
    plain = httpx.get(link, headers={"cookie": "yui_lang=ja-x-easy", "accept-language": "en"})
    assert '<html lang="ja-x-easy">' in plain.text and "だいじょうぶです" in plain.text
    # a page may reach the topology's sites only; a lone node has no other
    assert "connect-src 'self';" in english.headers["content-security-policy"]
    assert "script-src 'self'" in english.headers["content-security-policy"]


def test_a_report_made_offline_is_sent_once_when_the_network_returns(
    node: ConsoleNode, campaign: str, page: Any
) -> None:
    person = residents(node, 2)[1]
    link = link_of(node, campaign, person)
    page.goto(link)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_load_state("networkidle")

    page.context.set_offline(True)
    page.get_by_role("button", name="助けが必要です").click()
    outbox_says(page, "queued")
    assert reports_of(node, campaign, person) == []
    # the page opens again with no network (the service worker's copy), the report kept
    page.reload()
    assert page.get_by_role("heading", level=1).inner_text() == "宮城県沖地震"
    outbox_says(page, "queued")
    assert reports_of(node, campaign, person) == []

    page.context.set_offline(False)
    outbox_says(page, "sent")
    assert [r.status for r in reports_of(node, campaign, person)] == ["needs_help"]
    # opened again: the outbox is empty, nothing is sent twice
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(_OUTBOX_SIZE) == 0
    time.sleep(0.5)
    assert len(reports_of(node, campaign, person)) == 1


def test_an_english_phone_switches_to_plain_japanese_and_reports(
    node: ConsoleNode, campaign: str, browser: Any
) -> None:
    """The browser's language first (English here), then the visible switch: one tap on
    "やさしい日本語" and the page, and the next one opened, are in plain Japanese; the
    report is made with the keyboard alone."""
    person = residents(node, 5)[4]
    context = browser.new_context(viewport={"width": 360, "height": 800}, locale="en-US")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(link_of(node, campaign, person))
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("button", name="I am safe").is_visible()
        switch = page.locator("form.language-switch button")
        assert switch.all_inner_texts() == ["日本語", "English", "やさしい日本語"]
        page.get_by_role("button", name="やさしい日本語").click()
        page.wait_for_function("document.documentElement.lang === 'ja-x-easy'")
        assert page.get_by_role("button", name="やさしい日本語").get_attribute("aria-pressed") == (
            "true"
        )
        assert page.evaluate(_NARROWEST_TARGET) >= 44
        assert_accessible(page)
        # by the keyboard: the skip link, then the first choice, then Enter
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == "だいじょうぶです"
        page.keyboard.press("Enter")
        outbox_says(page, "sent")
        assert "とどきました" in page.get_by_role("status").inner_text()
        assert [r.status for r in reports_of(node, campaign, person)] == ["safe"]
        page.get_by_role("link", name=re.compile("さがす")).first.click()
        page.wait_for_url(re.compile(r"/console/citizen/search$"))
        assert page.locator("html").get_attribute("lang") == "ja-x-easy"
    finally:
        context.close()


def test_a_report_whose_answer_was_lost_is_sent_again_and_stored_once(
    node: ConsoleNode, campaign: str, browser: Any
) -> None:
    """The site stores the report but the phone never hears back (the network drops on
    the way back): the report stays in the outbox, is sent again with the same id when
    the page is next opened, and the site answers it as recorded already: one report."""
    person = residents(node, 6)[5]
    # the outbox, not the service worker's copies, is what this is about; with a worker
    # the page's requests may bypass Playwright's routing
    context = browser.new_context(locale="ja-JP", service_workers="block")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(link_of(node, campaign, person))
        answered: list[int] = []

        def lose_the_answer(route: Any) -> None:
            answered.append(route.fetch().status)  # the site stores it...
            route.abort()  # ...and its answer never reaches the phone

        page.route("**/reports", lose_the_answer)
        page.get_by_role("button", name="無事です").click()
        outbox_says(page, "queued")
        assert answered == [201]
        assert [r.status for r in reports_of(node, campaign, person)] == ["safe"]
        page.unroute("**/reports")
        sent_again: list[int] = []
        page.on("response", lambda r: sent_again.append(r.status) if "/reports" in r.url else None)
        page.reload()
        outbox_says(page, "sent")
        assert sent_again == [200]  # recorded already: the same report, by its id
        assert page.evaluate(_OUTBOX_SIZE) == 0
        assert [r.status for r in reports_of(node, campaign, person)] == ["safe"]
    finally:
        context.close()


def test_the_open_campaigns_lead_to_the_open_form_and_the_family_search(
    node: ConsoleNode, campaign: str, page: Any
) -> None:
    person = residents(node, 4)[3]
    headers = {"authorization": f"Bearer {api_token(node, node.tenant)}"}
    api = f"{node.url}/api/v1/{node.tenant}/safety/campaigns"
    drill = httpx.post(api, headers=headers, json={"title": "総合防災訓練", "kind": "drill"})
    assert drill.status_code == 201, drill.text
    try:
        # the municipality's page: its open live campaign, never the drill
        page.goto(f"{node.url}/console/citizen/{node.tenant}")
        listed = page.get_by_test_id("campaigns").inner_text()
        assert "宮城県沖地震" in listed and "総合防災訓練" not in listed
        assert page.get_by_role("heading", level=1).inner_text() == "仙台市 安否の報告"
        assert page.evaluate(_NARROWEST_TARGET) >= 44
        assert_reflows(page)
        assert_accessible(page)
        screenshot(page, "citizen-campaigns")
        # kept by the service worker: it opens again with no network
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        page.wait_for_load_state("networkidle")
        page.context.set_offline(True)
        page.reload()
        assert "宮城県沖地震" in page.get_by_test_id("campaigns").inner_text()
        page.context.set_offline(False)
    finally:
        httpx.post(f"{api}/{drill.json()['id']}/close", headers=headers)
    page.get_by_role("link", name="家族を探す").first.click()
    page.wait_for_url(re.compile(r"/console/citizen/search$"))
    page.get_by_label("氏名（漢字またはカナ）").fill(f"{person.family_name} {person.given_name}")
    page.get_by_label("生年月日").fill(person.birth_date.isoformat())
    page.get_by_role("button", name="探す").click()
    results = page.get_by_test_id("results")
    assert "仙台市" in results.inner_text()
    assert "まだ情報がありません" in results.inner_text()
    # only what the search API tells: no address, district or shelter
    assert person.town_name not in results.inner_text()
    assert page.evaluate(_NARROWEST_TARGET) >= 44
    assert_reflows(page)
    assert_accessible(page)
    screenshot(page, "citizen-search")

    page.goto(f"{node.url}/console/citizen/{node.tenant}")
    page.get_by_role("link", name="安否を報告する").last.click()
    page.wait_for_url(re.compile(rf"/campaigns/{campaign}/form$"))
    assert page.evaluate(_NARROWEST_TARGET) >= 44
    assert_reflows(page)
    page.get_by_label("氏（漢字）").fill(person.family_name)
    page.get_by_label("名（漢字）").fill(person.given_name)
    page.get_by_label("避難所にいます").check()
    # neither a birth date nor a district: said at once, nothing queued, nothing typed lost
    page.get_by_role("button", name="送る").click()
    outbox_says(page, "incomplete")
    assert page.get_by_label("名（漢字）").input_value() == person.given_name
    page.get_by_label("生年月日").fill(person.birth_date.isoformat())
    page.get_by_role("button", name="送る").click()
    outbox_says(page, "sent")
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        submissions = uow.session.execute(
            select(func.count())
            .select_from(Submission)
            .where(Submission.campaign_id == campaign, Submission.given_name == person.given_name)
        ).scalar_one()
    assert submissions == 1
    assert_accessible(page)
    screenshot(page, "citizen-form")


#: the smallest height of what a person taps on the page (buttons, fields, links; a radio
#: button or a check box is tapped by its label, which holds it)
_NARROWEST_TARGET = """() => Math.min(...Array.from(
  document.querySelectorAll(
    "main button, main input:not([type=hidden]), main textarea, header button, nav a"),
  (element) => (element.closest("label") || element).getBoundingClientRect().height))"""

_OUTBOX_SIZE = """() => new Promise((resolve) => {
  const open = indexedDB.open("yui-citizen", 1);
  open.onsuccess = () => {
    const count = open.result.transaction("outbox").objectStore("outbox").count();
    count.onsuccess = () => resolve(count.result);
  };
})"""


def _transferred(request: Any) -> int:
    sizes = request.sizes()
    return int(sizes["responseBodySize"] + sizes["responseHeadersSize"])


def test_a_forged_link_a_foreign_site_and_a_search_without_its_token_are_refused(
    node: ConsoleNode, campaign: str, page: Any
) -> None:
    link = link_of(node, campaign, residents(node, 1)[0])
    forged = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    refused = httpx.get(forged)
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    # the error page a phone shows for it (common/error.html): readable, in its language
    page.goto(forged)
    assert page.get_by_role("alert").is_visible()
    assert_accessible(page)
    # the public report endpoint lets only the topology's sites post from a page
    endpoint = link.replace("/console/citizen/", "/api/v1/").replace("/r/", "/safety/links/")
    preflight = httpx.options(
        endpoint + "/reports",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 204
    assert "access-control-allow-origin" not in preflight.headers
    searched = httpx.post(
        f"{node.url}/console/citizen/search", data={"name": "佐藤 花子", "birth_date": "1980-05-06"}
    )
    assert searched.status_code == 403
