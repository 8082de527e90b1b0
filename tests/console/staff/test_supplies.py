"""Relief supplies in the staff console. The page logic (what a role sees, the desk's
Enter, the approval's confirmation, the allocation's rules in words, shipments and
stock, a draft's refusals) through HTTP without a browser; browser tests of the shelter
desk (keyboard only) and of a request from its draft to a partial receipt (three
accounts), with axe-core and screenshots."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from residents.registry.models import Resident
from tests.console.support.browser import (
    AUDITOR,
    STAFF,
    ConsoleNode,
    assert_accessible,
    screenshot,
    sign_in,
)
from tests.console.support.staff import Desk, api, token_of
from tests.support import factories

SHELTER_ACCOUNT = "hinan1"
JAPAN = ZoneInfo("Asia/Tokyo")


@dataclass
class Supplies:
    """What the supplies pages of the test node show: two shelters (the shelter account
    works 青葉小学校 only), a depot with water, one submitted request."""

    request_id: str
    #: residents whose full name no other resident shares (the desk's Enter finds one)
    unique_residents: list[Resident]


@pytest.fixture(scope="module")
def supplies(node: ConsoleNode) -> Supplies:
    factories.user(node.db, node.tenant, SHELTER_ACCOUNT, "shelter")
    staff = token_of(node, STAFF)
    api(node, staff, "POST", "/supplies/items/seed")
    shelter = {"capacity_day": 300, "capacity_night": 200, "floor_area_m2": 350, "toilets": 4}
    places = {}
    for code, kind, name, extra in (
        ("S-C1", "shelter", "青葉小学校", {"latitude": 38.26, "longitude": 140.87, **shelter}),
        ("S-C2", "shelter", "片平公民館", shelter),
        ("D-C1", "stockpile", "青葉備蓄倉庫", {"latitude": 38.25, "longitude": 140.86}),
    ):
        made = api(
            node,
            staff,
            "POST",
            "/supplies/places",
            {"code": code, "kind": kind, "name": name, **extra},
        )
        places[code] = made["id"]
    for code in ("S-C1", "S-C2"):
        api(node, staff, "POST", f"/supplies/shelters/{code}/open")
    api(
        node,
        staff,
        "POST",
        f"/supplies/places/{places['S-C1']}/assignments",
        {"username": SHELTER_ACCOUNT},
    )
    api(
        node,
        staff,
        "POST",
        "/supplies/stock/receipts",
        {
            "place": "D-C1",
            "lines": [{"item": "water-2l", "quantity": 30, "expires_on": "2031-03-31"}],
        },
    )
    request = api(
        node,
        staff,
        "POST",
        "/supplies/requests",
        {
            "shelter": "S-C1",
            "lines": [{"item": "water-2l", "quantity": 40, "vulnerable": 10}],
            "submit": True,
        },
    )
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        residents = list(
            uow.session.execute(
                select(Resident).where(Resident.dv_block.is_(False)).order_by(Resident.resident_no)
            ).scalars()
        )
    names = Counter(f"{r.family_name}{r.given_name}" for r in residents)
    unique = [r for r in residents if names[f"{r.family_name}{r.given_name}"] == 1]
    return Supplies(request["id"], unique)


def occupancy(page: str) -> int:
    found = re.search(r'data-testid="occupancy"[^>]*>現在 (\d+) 人', page)
    assert found, page[:2000]
    return int(found.group(1))


def test_the_shelter_account_sees_its_own_shelter_and_staff_filter_every_one(
    node: ConsoleNode, supplies: Supplies
) -> None:
    staff = Desk(node, STAFF, ("staff",))
    listed = staff.get("/shelters")
    assert listed.status_code == 200
    assert "青葉小学校" in listed.text and "片平公民館" in listed.text
    assert 'href="/console/t/041009/supplies/shelters"' in listed.text  # in the navigation
    only = staff.get("/shelters", q="片平")
    assert "片平公民館" in only.text and "青葉小学校" not in only.text
    assert "1 か所" in only.text

    shelter = Desk(node, SHELTER_ACCOUNT, ("shelter",))
    own = shelter.get("/shelters")
    assert "青葉小学校" in own.text and "片平公民館" not in own.text
    # another shelter's desk is as unknown to it as a shelter that does not exist
    assert shelter.get("/shelters/S-C2/desk").status_code == 404
    refused = shelter.post(
        "/shelters/S-C2/desk/check-in",
        {"kind": "visitor", "label": "旅行者", "people": "2"},
        from_page="/shelters/S-C1/desk",
    )
    assert refused.status_code == 404
    assert occupancy(staff.get("/shelters/S-C2/desk").text) == 0


def test_the_desk_checks_in_by_name_or_unregistered_and_checks_out(
    node: ConsoleNode, supplies: Supplies
) -> None:
    desk = Desk(node, SHELTER_ACCOUNT, ("shelter",))
    before = occupancy(desk.get("/shelters/S-C1/desk").text)
    person = supplies.unique_residents[0]

    # Enter with a name the registry knows once: checked in at once
    done = desk.post(
        "/shelters/S-C1/desk/check-in",
        {"q": f"{person.family_name} {person.given_name}"},
        from_page="/shelters/S-C1/desk",
    )
    assert done.status_code == 303, done.text
    # the name stays out of the URL (and so out of access logs and the browser's history)
    assert person.family_name not in unquote(done.headers["location"])
    page = desk.client.get(done.headers["location"]).text
    assert f"{person.family_name} {person.given_name} を受け付けました" in page
    # and a notice is never text the URL carries
    assert "偽のお知らせ" not in desk.get("/shelters/S-C1/desk", done="偽のお知らせ").text
    assert occupancy(page) == before + 1
    # the same person again: the API's refusal, in Japanese, and nothing written
    again = desk.post(
        "/shelters/S-C1/desk/check-in",
        {"resident_id": person.id},
        from_page="/shelters/S-C1/desk",
    )
    assert again.status_code == 409 and "すでにチェックイン済み" in again.text
    assert occupancy(again.text) == before + 1

    # a name the registry does not know: the desk offers an unregistered check-in
    offered = desk.post(
        "/shelters/S-C1/desk/check-in", {"q": "ゼッタイイナイ"}, from_page="/shelters/S-C1/desk"
    )
    assert offered.status_code == 200
    assert "住民記録にない人として受け付けますか" in offered.text
    assert 'value="ゼッタイイナイ"' in offered.text
    form_id = re.search(r'name="check_in_id" value="([0-9a-f-]{36})"', offered.text)
    assert form_id
    party_form = {
        "check_in_id": form_id.group(1),
        "kind": "commuter",
        "label": "ゼッタイイナイ",
        "people": "3",
    }
    for _sent_twice in range(2):  # a double Enter: the form's id checks them in once
        party = desk.post(
            "/shelters/S-C1/desk/check-in", party_form, from_page="/shelters/S-C1/desk"
        )
        assert party.status_code == 303
    page = desk.client.get(party.headers["location"]).text
    assert occupancy(page) == before + 4
    assert "ゼッタイイナイ" in page and "帰宅困難者" in page
    # when they came, as the desk reads a clock in Japan
    stays = api(node, token_of(node, STAFF), "GET", "/supplies/shelters/S-C1/stays?open=true")
    came = next(stay["checked_in_at"] for stay in stays if stay["label"] == "ゼッタイイナイ")
    assert datetime.fromisoformat(came).astimezone(JAPAN).strftime("%Y-%m-%d %H:%M") in page

    # check-out of the party (its row's form)
    stay_id = re.search(r'ゼッタイイナイ.*?name="stay_id" value="([0-9a-f-]{36})"', page, re.DOTALL)
    assert stay_id
    out = desk.post(
        "/shelters/S-C1/desk/check-out",
        {"stay_id": stay_id.group(1)},
        from_page="/shelters/S-C1/desk",
    )
    assert out.status_code == 303
    assert occupancy(desk.client.get(out.headers["location"]).text) == before + 1
    # the shelters page counts them too
    assert re.search(rf'data-testid="people-S-C1">{before + 1}\b', desk.get("/shelters").text)
    # a form without the session's CSRF token writes nothing
    forged = desk.client.post(
        desk.base + "/shelters/S-C1/desk/check-in", data={"kind": "visitor", "label": "x"}
    )
    assert forged.status_code == 403


def test_approval_needs_its_confirmation_and_staff_then_allocation_shows_its_rule(
    node: ConsoleNode, supplies: Supplies
) -> None:
    staff = Desk(node, STAFF, ("staff",))
    shelter = Desk(node, SHELTER_ACCOUNT, ("shelter",))
    queue = staff.get("/requests")
    assert "青葉小学校" in queue.text and "保存水" in queue.text
    approve_link = f"/console/t/041009/supplies/requests/{supplies.request_id}/approve"
    assert approve_link in queue.text
    assert approve_link not in shelter.get("/requests").text  # only staff approve

    # without the confirmation, back to it: nothing approved
    skipped = staff.post(f"/requests/{supplies.request_id}/approve", {}, from_page="/requests")
    assert skipped.status_code == 303 and skipped.headers["location"].endswith("/approve")
    confirm = staff.get(f"/requests/{supplies.request_id}/approve")
    assert "青葉小学校 からの要請（提出済）を承認します" in confirm.text
    # the shelter account is refused by the API, and says so
    refused = shelter.post(
        f"/requests/{supplies.request_id}/approve", {"confirm": "yes"}, from_page="/requests"
    )
    assert refused.status_code == 403
    approved = staff.post(
        f"/requests/{supplies.request_id}/approve",
        {"confirm": "yes"},
        from_page=f"/requests/{supplies.request_id}/approve",
    )
    assert approved.status_code == 303
    assert "要請を承認しました" in staff.client.get(approved.headers["location"]).text
    assert "青葉小学校" in staff.get("/requests", status="approved").text

    # 30 bottles for 40 asked, 10 of them for vulnerable people: the rule in words
    suggestion = staff.get("/allocation")
    assert "要配慮者を優先" in suggestion.text
    explanation = re.search(r'data-testid="explanation">([^<]+)<', suggestion.text)
    assert explanation, suggestion.text[:3000]
    assert "在庫 30、需要 40" in explanation.group(1) and "最寄り" in explanation.group(1)
    assert "nearest" not in explanation.group(1)  # the page's language only
    committed = staff.post("/allocation", {"request": supplies.request_id}, from_page="/allocation")
    assert committed.status_code == 303
    assert "1 件の要請を引き当てました" in staff.client.get(committed.headers["location"]).text

    api(
        node,
        token_of(node, STAFF),
        "POST",
        f"/supplies/requests/{supplies.request_id}/shipments",
        {
            "from_place": "D-C1",
            "vehicle": "宮城 100 さ 12-34",
            "driver": "山田 太郎",
            "expected_at": "2031-01-01T14:45:00Z",
        },
    )
    shipments = staff.get("/shipments", status="shipped")
    assert "青葉備蓄倉庫 → 青葉小学校" in shipments.text
    # the ETA as people here read it: 14:45 UTC is 23:45 in Japan
    assert "到着予定 2031-01-01 23:45" in shipments.text, shipments.text
    assert "14:45" not in shipments.text
    assert "宮城 100 さ 12-34" in shipments.text and "出荷 30・受領 0" in shipments.text
    # goods on the road count at their destination
    stock = staff.get("/stock", place="S-C1")
    assert "保存水" in stock.text and "30" in stock.text
    assert "保存水" not in staff.get("/stock", place="D-C1").text


def test_check_in_at_the_desk_with_the_keyboard_only(
    node: ConsoleNode, supplies: Supplies, page: Any
) -> None:
    person = supplies.unique_residents[1]
    sign_in(page, node, SHELTER_ACCOUNT)
    # a shelter account's home is its shelters (it reads no safety confirmation)
    page.wait_for_url(re.compile(r"/supplies/shelters$"))
    page.get_by_role("link", name="受付を開く").click()
    page.wait_for_url(re.compile(r"/supplies/shelters/S-C1/desk$"))
    people = page.get_by_test_id("occupancy")
    before = int(re.search(r"(\d+) 人", people.inner_text()).group(1))  # type: ignore[union-attr]
    # the box has the focus on load: type, Enter
    page.keyboard.type(f"{person.family_name}{person.given_name}")
    page.keyboard.press("Enter")
    page.get_by_test_id("desk-notice").wait_for()
    assert f"現在 {before + 1} 人" in people.inner_text()
    assert f"{person.family_name} {person.given_name}" in page.get_by_test_id("stays").inner_text()
    # focus is back in the box for the next person
    assert page.evaluate("document.activeElement.id") == "desk-q"
    assert_accessible(page)
    screenshot(page, "supplies-desk")


DEPOT_ACCOUNT = "haiso1"


def test_a_draft_refused_by_the_page_or_the_api_writes_nothing(
    node: ConsoleNode, supplies: Supplies
) -> None:
    desk = Desk(node, SHELTER_ACCOUNT, ("shelter",))
    before = len(api(node, token_of(node, STAFF), "GET", "/supplies/requests?status=draft"))
    rows = {"shelter": "S-C1", "item": ["blanket", ""], "vulnerable": ["", ""]}
    # a quantity that is no number: the page's own refusal, what was typed kept
    typed = desk.post(
        "/requests/new", {**rows, "quantity": ["たくさん", ""]}, from_page="/requests/new"
    )
    assert typed.status_code == 422 and "数量は 0 より大きい数" in typed.text
    assert 'value="たくさん"' in typed.text
    # half a blanket: the API's refusal in the page's language
    half = desk.post("/requests/new", {**rows, "quantity": ["2.5", ""]}, from_page="/requests/new")
    assert half.status_code == 422 and "整数で数えます" in half.text, half.text[:3000]
    # another shelter's request: as unknown to this account as a shelter that does not exist
    other = desk.post(
        "/requests/new",
        {**rows, "shelter": "S-C2", "quantity": ["2", ""]},
        from_page="/requests/new",
    )
    assert other.status_code == 404
    # a form without the session's CSRF token
    forged = desk.client.post(desk.base + "/requests/new", data={**rows, "quantity": ["2", ""]})
    assert forged.status_code == 403
    after = api(node, token_of(node, STAFF), "GET", "/supplies/requests?status=draft")
    assert len(after) == before


def test_a_draft_form_sent_twice_makes_one_request_and_its_times_read_in_japan(
    node: ConsoleNode, supplies: Supplies
) -> None:
    desk = Desk(node, SHELTER_ACCOUNT, ("shelter",))
    staff = token_of(node, STAFF)
    drafts = len(api(node, staff, "GET", "/supplies/requests?status=draft"))
    form_page = desk.get("/requests/new").text
    draft_id = re.search(r'name="draft_id" value="([0-9a-f-]{36})"', form_page)
    assert draft_id, form_page[:3000]
    form = {
        "draft_id": draft_id.group(1),
        "shelter": "S-C1",
        # typed in Japan's time: 2026-12-08 00:30 there is 2026-12-07 15:30 UTC
        "needed_by": "2026-12-08T00:30",
        "item": ["blanket", ""],
        "quantity": ["4", ""],
        "vulnerable": ["", ""],
        "action": "draft",
    }
    first = desk.post("/requests/new", form, from_page="/requests/new")
    assert first.status_code == 303
    assert first.headers["location"].endswith(f"/requests/{draft_id.group(1)}?done=drafted")
    # the same form again (a double click, a resend after a timeout): the first draft
    again = desk.post("/requests/new", form, from_page="/requests/new")
    assert again.status_code == 303
    assert again.headers["location"].endswith(f"/requests/{draft_id.group(1)}?done=resent")
    shown = desk.client.get(again.headers["location"]).text
    assert "すでに送られていました" in shown and "下書き" in shown
    assert len(api(node, staff, "GET", "/supplies/requests?status=draft")) == drafts + 1

    # the same form with other content: refused, the first draft linked, nothing written
    changed = desk.post("/requests/new", {**form, "quantity": ["5", ""]}, from_page="/requests/new")
    assert changed.status_code == 409 and "内容の違う要請" in changed.text
    assert f'href="/console/t/041009/supplies/requests/{draft_id.group(1)}"' in changed.text
    assert f'value="{draft_id.group(1)}"' in changed.text and 'value="5"' in changed.text
    assert len(api(node, staff, "GET", "/supplies/requests?status=draft")) == drafts + 1
    # a fresh form is a fresh id
    assert draft_id.group(1) not in desk.get("/requests/new").text

    # every time on the list reads in Japan: the needed-by time as it was typed
    listed = desk.get("/requests", status="draft").text
    assert "2026-12-08 00:30" in listed and "2026-12-07 15:30" not in listed
    made = api(node, staff, "GET", f"/supplies/requests/{draft_id.group(1)}")
    assert made["needed_by"].startswith("2026-12-07T15:30")
    created = datetime.fromisoformat(made["created_at"]).astimezone(JAPAN)
    assert created.strftime("%Y-%m-%d %H:%M") in listed


def test_a_request_from_its_draft_to_a_partial_receipt_in_the_browser(
    node: ConsoleNode, supplies: Supplies, browser: Any, page: Any
) -> None:
    """The shelter drafts with the keyboard and submits; staff approve and commit (the
    queue's own pages, tested above, through the API here); a depot account dispatches
    from the request's page; the shelter receives 18 of 20 blankets, 2 damaged."""
    factories.user(node.db, node.tenant, DEPOT_ACCOUNT, "depot")
    staff = token_of(node, STAFF)
    depot = api(node, staff, "GET", "/supplies/places/D-C1")
    api(
        node,
        staff,
        "POST",
        f"/supplies/places/{depot['id']}/assignments",
        {"username": DEPOT_ACCOUNT},
    )
    api(
        node,
        staff,
        "POST",
        "/supplies/stock/receipts",
        {"place": "D-C1", "lines": [{"item": "blanket", "quantity": 50}]},
    )

    drafts = len(api(node, staff, "GET", "/supplies/requests?status=draft"))
    sign_in(page, node, SHELTER_ACCOUNT)
    page.wait_for_url(re.compile(r"/supplies/shelters$"))
    page.get_by_role("link", name="要請", exact=True).click()
    page.get_by_test_id("new-request").click()
    page.wait_for_url(re.compile(r"/supplies/requests/new$"))
    # one shelter: the focus is on the first item; the rest by keyboard
    assert page.evaluate("document.activeElement.id") == "item-1"
    page.get_by_label("1 行目の品目").select_option("blanket")
    page.keyboard.press("Tab")
    page.keyboard.type("20")
    page.keyboard.press("Tab")
    page.keyboard.type("5")
    assert_accessible(page)
    screenshot(page, "supplies-request-draft")
    # the form was sent once already and its answer lost (a timeout): the page sends it
    # as the browser would, then Enter sends it again
    lost = page.evaluate(
        """async () => {
            const form = document.querySelector('[data-testid=draft-form]');
            const data = new URLSearchParams(new FormData(form));
            data.set('action', 'draft');
            // form.action would be the buttons named "action"
            const url = form.getAttribute('action');
            const answer = await fetch(url, {method: 'POST', body: data, redirect: 'manual'});
            return answer.type + ' ' + answer.status;
        }"""
    )
    assert lost == "opaqueredirect 0", lost  # the 303 to the draft it made
    page.keyboard.press("Enter")  # the form's first button: save the draft
    page.get_by_test_id("flow-notice").wait_for()
    # one draft, the one the first sending made
    assert "すでに送られていました" in page.get_by_test_id("flow-notice").inner_text()
    assert len(api(node, staff, "GET", "/supplies/requests?status=draft")) == drafts + 1
    assert "下書き" in page.get_by_test_id("request-status").inner_text()
    lines = page.get_by_test_id("request-lines").inner_text()
    assert "毛布" in lines and "20" in lines and "5" in lines
    page.get_by_test_id("submit-draft").click()
    page.get_by_test_id("flow-notice").wait_for()
    assert "提出済" in page.get_by_test_id("request-status").inner_text()
    request_id = page.url.rsplit("/", 1)[1].split("?")[0]

    api(node, staff, "POST", f"/supplies/requests/{request_id}/approve")
    api(
        node,
        staff,
        "POST",
        "/supplies/allocation/commit",
        {"requests": [request_id], "accept_suggestion": True},
    )

    shipper = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    try:
        dispatcher = shipper.new_page()
        dispatcher.set_default_timeout(10_000)
        sign_in(dispatcher, node, DEPOT_ACCOUNT)
        dispatcher.goto(f"{node.url}/console/t/{node.tenant}/supplies/requests?status=committed")
        dispatcher.get_by_role("link", name="出荷…").first.click()
        dispatcher.wait_for_url(re.compile(r"/dispatch$"))
        assert dispatcher.evaluate("document.activeElement.id") == "vehicle"
        dispatcher.keyboard.type("宮城 300 あ 56-78")
        dispatcher.keyboard.press("Tab")
        dispatcher.keyboard.type("鈴木 一郎")
        assert_accessible(dispatcher)
        dispatcher.get_by_test_id("dispatch").click()
        dispatcher.get_by_test_id("flow-notice").wait_for()
        shipped = dispatcher.get_by_test_id("request-shipments").inner_text()
        assert "青葉備蓄倉庫 → 青葉小学校" in shipped and "宮城 300 あ 56-78" in shipped
        assert "輸送中" in shipped
    finally:
        shipper.close()

    page.goto(f"{node.url}/console/t/{node.tenant}/supplies/requests/{request_id}")
    page.get_by_role("link", name="受領…").click()
    page.wait_for_url(re.compile(r"/receive$"))
    assert page.evaluate("document.activeElement.id") == "received-1"
    # a different amount without its reason: the API refuses, nothing is received
    page.keyboard.press("Control+A")
    page.keyboard.type("18")
    page.get_by_test_id("receive").click()
    assert "差異" in page.get_by_test_id("form-error").inner_text()
    assert api(node, staff, "GET", f"/supplies/requests/{request_id}")["status"] == "shipped"
    page.get_by_label("毛布 の差異", exact=True).select_option("damaged")
    page.get_by_label("毛布 の差異のメモ").fill("2 枚が濡れていた")
    assert_accessible(page)
    screenshot(page, "supplies-receive")
    page.get_by_test_id("receive").click()
    page.get_by_test_id("flow-notice").wait_for()
    assert "受領済" in page.get_by_test_id("request-status").inner_text()
    assert "差異 1 件" in page.get_by_test_id("request-shipments").inner_text()
    # the shelter's stock is what arrived usable
    levels = api(node, staff, "GET", "/supplies/stock?place=S-C1&item=blanket")
    assert [float(level["quantity"]) for level in levels] == [18.0]


def test_staff_change_an_allocation_before_confirming_it_in_the_browser(
    node: ConsoleNode, supplies: Supplies, page: Any
) -> None:
    """15 rolls asked for 青葉小学校: the suggestion takes 10 from the nearest depot and 5
    from the next; staff move most of it to the farther depot. Over a lot's free stock,
    negative, over the line (the page's refusals) or half a roll (the API's): refused on
    the page, nothing written."""
    staff = token_of(node, STAFF)
    api(
        node,
        staff,
        "POST",
        "/supplies/places",
        {
            "code": "D-C2",
            "kind": "hub",
            "name": "宮城野物資拠点",
            "latitude": 38.40,
            "longitude": 141.00,
        },
    )
    for depot, rolls in (("D-C1", 10), ("D-C2", 12)):
        api(
            node,
            staff,
            "POST",
            "/supplies/stock/receipts",
            {"place": depot, "lines": [{"item": "toilet-paper", "quantity": rolls}]},
        )
    request = api(
        node,
        staff,
        "POST",
        "/supplies/requests",
        {"shelter": "S-C1", "lines": [{"item": "toilet-paper", "quantity": 15}], "submit": True},
    )
    api(node, staff, "POST", f"/supplies/requests/{request['id']}/approve")

    def free() -> list[tuple[str, float]]:
        lots = api(node, staff, "GET", "/supplies/allocation/lots?item=toilet-paper")
        return sorted((lot["place_code"], lot["free"]) for lot in lots)

    # what a changed pick may take: each depot's free stock of the item, per lot
    assert free() == [("D-C1", 10), ("D-C2", 12)]
    shelter = httpx.get(
        f"{node.url}/api/v1/{node.tenant}/supplies/allocation/lots?item=toilet-paper",
        headers={"authorization": f"Bearer {token_of(node, SHELTER_ACCOUNT)}"},
    )
    assert shelter.status_code == 403

    sign_in(page, node)
    page.goto(f"{node.url}/console/t/{node.tenant}/supplies/allocation")
    page.locator(f'a[href$="/allocation/{request["id"]}/change"]').click()
    page.wait_for_url(re.compile(r"/change$"))
    line = page.get_by_test_id("change-line")
    assert "在庫が足りるため全量" in line.get_by_test_id("explanation").inner_text()
    near = page.get_by_label("トイレットペーパー を 青葉備蓄倉庫 から配分する量")
    far = page.get_by_label("トイレットペーパー を 宮城野物資拠点 から配分する量")
    assert (near.input_value(), far.input_value()) == ("10", "5")

    def refused(near_amount: str, far_amount: str, reason: str) -> None:
        near.fill(near_amount)
        far.fill(far_amount)
        page.get_by_test_id("commit-changed").click()
        assert reason in page.get_by_test_id("form-error").inner_text()
        # what was typed stays; the rule is still beside the line; nothing committed
        assert near.input_value() == near_amount
        assert "全量" in page.get_by_test_id("explanation").inner_text()
        assert api(node, staff, "GET", f"/supplies/requests/{request['id']}")["status"] == (
            "approved"
        )

    refused("11", "4", "青葉備蓄倉庫 の空き在庫は 10 です")
    refused("-1", "12", "0 以上の数")
    refused("10", "12", "トイレットペーパー の未引当は 15 です")  # 22 for a line of 15
    refused("2.5", "12", "整数で数えます")  # half a roll: the API's refusal
    assert_accessible(page)
    screenshot(page, "supplies-allocation-change")

    near.fill("3")
    far.fill("12")
    page.get_by_test_id("commit-changed").click()
    assert "1 件の要請を引き当てました" in page.get_by_test_id("allocation-notice").inner_text()
    committed = api(node, staff, "GET", f"/supplies/requests/{request['id']}")
    assert committed["status"] == "committed"
    depots = {p["id"]: p["code"] for p in api(node, staff, "GET", "/supplies/places")}
    assert sorted((depots[a["place_id"]], a["quantity"]) for a in committed["allocations"]) == [
        ("D-C1", 3),
        ("D-C2", 12),
    ]
    assert all("職員が変更（提案: 15）" in a["explanation"] for a in committed["allocations"])
    assert free() == [("D-C1", 7)]  # what is held for the request is free no more


def test_donation_offers_recorded_paged_and_decided_in_the_browser(
    node: ConsoleNode, supplies: Supplies, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff record an offer (a half blanket refused first), accept it after the
    confirmation step; the list pages on the server; a form sent twice records once; an
    auditor reads without the decisions, a shelter account has no such page."""
    # pages of 2 here (the node serves in this process), so a few offers make pages
    monkeypatch.setattr("console.staff.supplies.PAGE_SIZE", 2)
    staff = token_of(node, STAFF)
    for n in range(2):
        api(
            node,
            staff,
            "POST",
            "/supplies/donations",
            {"donor": f"寄付者 {n:02d}", "lines": [{"item": "water-500ml", "quantity": 24}]},
        )
    desk = Desk(node, STAFF, ("staff",))
    form_page = desk.get("/donations/new").text
    offer_id = re.search(r'name="offer_id" value="([0-9a-f-]{36})"', form_page)
    assert offer_id
    form = {
        "offer_id": offer_id.group(1),
        "donor": "仙台市民の会",
        "item": ["biscuits", ""],
        "quantity": ["48", ""],
        "expires_on": ["2030-05-31", ""],
    }
    sent = [desk.post("/donations/new", form, from_page="/donations/new") for _ in range(2)]
    assert [answer.headers["location"].rsplit("done=", 1)[1] for answer in sent] == [
        "recorded",
        "resent",
    ]
    offered = api(node, staff, "GET", "/supplies/donations")
    assert len(offered) == 3 and [o["id"] for o in offered].count(offer_id.group(1)) == 1

    # 3 offered, newest first: 2 on the first page, the oldest on the second
    first = desk.get("/donations")
    assert first.text.count('data-label="寄付者（企業・団体・個人）"') == 2
    assert "1 / 2 ページ" in first.text and "寄付者 00" not in first.text
    second = desk.get("/donations", page=2).text
    assert "寄付者 00" in second and "仙台市民の会" not in second
    auditor = Desk(node, AUDITOR, ("auditor",))
    read = auditor.get("/donations")
    assert read.status_code == 200 and "仙台市民の会" in read.text
    assert "/accept" not in read.text and "/donations/new" not in read.text
    # nor may it decide: the confirmation page says so, and the API refuses
    one = next(o for o in offered if o["donor"] == "仙台市民の会")
    looked = auditor.get(f"/donations/{one['id']}/accept").text
    assert "職員だけ" in looked and "confirm-decision" not in looked
    tried = auditor.post(
        f"/donations/{one['id']}/accept", {"confirm": "yes"}, from_page="/donations"
    )
    assert tried.status_code == 403
    assert (
        "/supplies/donations" not in Desk(node, SHELTER_ACCOUNT, ("shelter",)).get("/shelters").text
    )

    kit = {
        "code": "baby-kit",
        "name": "乳児セット",
        "items": [
            {"item": "formula-liquid", "quantity": 6},
            {"item": "diaper-infant", "quantity": 10},
        ],
    }
    api(node, staff, "POST", "/supplies/kits", kit)

    sign_in(page, node)
    page.get_by_role("link", name="物資・避難所").click()
    page.get_by_role("link", name="寄付の申し出", exact=True).click()
    page.get_by_test_id("new-offer").click()
    page.get_by_label("寄付者（企業・団体・個人）").fill("みやぎ生協")
    page.get_by_label("連絡先").fill("022-111-2222")
    page.get_by_label("1 行目の品目").select_option("water-2l")
    page.get_by_label("1 行目の数量").fill("100")
    page.get_by_label("1 行目の期限").fill("2031-03-31")
    page.get_by_label("2 行目の品目").select_option("blanket")
    page.get_by_label("2 行目の数量").fill("2.5")
    page.get_by_label("3 行目の品目").select_option("kit:baby-kit")  # two kits: their items
    page.get_by_label("3 行目の数量").fill("2")
    page.get_by_test_id("record-offer").click()
    assert "整数で数えます" in page.get_by_test_id("form-error").inner_text()
    assert page.get_by_label("2 行目の数量").input_value() == "2.5"
    assert len(api(node, staff, "GET", "/supplies/donations")) == 3  # nothing written
    page.get_by_label("2 行目の数量").fill("20")
    assert_accessible(page)
    page.get_by_test_id("record-offer").click()
    assert "記録しました" in page.get_by_test_id("donations-notice").inner_text()

    page.get_by_role("link", name="みやぎ生協 の申し出を受け入れる（確認へ）").click()
    assert "みやぎ生協 の申し出" in page.get_by_test_id("offer").inner_text()
    offer = page.get_by_test_id("offer").inner_text()
    assert "毛布 20" in offer and "液体ミルク（240mL） 12" in offer and "乳児用おむつ 20" in offer
    page.get_by_label("メモ（任意。理由や連絡の内容）").fill("12 月 9 日に搬入")
    assert_accessible(page)
    screenshot(page, "supplies-donation-accept")
    mine = next(
        o for o in api(node, staff, "GET", "/supplies/donations") if o["donor"] == "みやぎ生協"
    )
    assert mine["status"] == "offered"  # nothing decided before the confirmation
    page.get_by_test_id("confirm-decision").click()
    assert "受け入れを決めました" in page.get_by_test_id("donations-notice").inner_text()
    page.get_by_role("link", name="受入決定").click()
    accepted = page.get_by_test_id("offers").inner_text()
    decided = next(
        o for o in api(node, staff, "GET", "/supplies/donations") if o["donor"] == "みやぎ生協"
    )
    assert decided["status"] == "accepted" and decided["decision_note"] == "12 月 9 日に搬入"
    when = datetime.fromisoformat(decided["decided_at"]).astimezone(JAPAN)
    assert "みやぎ生協" in accepted and f"{when:%Y-%m-%d %H:%M} {STAFF}" in accepted
    assert_accessible(page)

    # the goods arrive: received at a depot, the ledger's receipt
    def blankets() -> float:
        levels = api(node, staff, "GET", "/supplies/stock?place=D-C1&item=blanket")
        return float(sum(level["quantity"] for level in levels))

    before = blankets()
    page.get_by_label("みやぎ生協 の物資を受け入れる拠点").select_option("D-C1")
    page.get_by_role(
        "button", name="みやぎ生協 の物資を選んだ拠点で受け入れる（在庫の受入）"
    ).click()
    assert "在庫に受け入れました" in page.get_by_test_id("donations-notice").inner_text()
    assert "みやぎ生協" in page.get_by_test_id("offers").inner_text()  # now under received
    assert blankets() == before + 20
