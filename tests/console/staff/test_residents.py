"""Residents in the staff console (a real browser): search as the registry searches
(kanji, kana, half-width), a resident's record and household, every view audited; a
CSV import with its progress bar and its per-row errors; moves recorded from a
resident's page; a move-in registered after its confirmation, a household change, a
whole household's relocation and a return after a 転出."""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from residents.demo.service import write_csv
from residents.registry.models import Resident
from tests.console.support.browser import (
    ConsoleNode,
    assert_accessible,
    screenshot,
    sign_in,
)
from yui.audit.models import AuditEntry


def a_resident(node: ConsoleNode) -> Resident:
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        return (
            uow.session.execute(
                select(Resident).where(Resident.dv_block.is_(False)).order_by(Resident.resident_no)
            )
            .scalars()
            .first()
        )


def audited(node: ConsoleNode, action: str, subject: str | None = None) -> int:
    query = select(AuditEntry).where(AuditEntry.action == action)
    if subject is not None:
        query = query.where(AuditEntry.subject_id == subject)
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        return len(uow.session.execute(query).all())


def half_width_katakana(kana: str) -> str:
    import jaconv

    return str(jaconv.z2h(jaconv.hira2kata(kana), kana=True))


@pytest.fixture
def signed_in(node: ConsoleNode, page: Any) -> Any:
    sign_in(page, node)
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
    return page


def test_search_by_kanji_kana_and_half_width_then_open_the_record(
    node: ConsoleNode, signed_in: Any
) -> None:
    page = signed_in
    person = a_resident(node)
    searches_before = audited(node, "resident.search")
    page.get_by_role("link", name="住民").click()
    assert_accessible(page)
    for query in (
        person.family_name,  # kanji
        person.family_kana,  # full-width katakana, as stored
        half_width_katakana(person.family_kana),  # ｻﾄｳ typed on an old keyboard
    ):
        page.get_by_label("氏名（漢字・かな・カナ）").fill(query)
        page.get_by_role("button", name="検索").click()
        results = page.get_by_test_id("results")
        assert f"{person.family_name} {person.given_name}" in results.inner_text(), query
    assert audited(node, "resident.search") >= searches_before + 3
    screenshot(page, "residents-search")
    assert_accessible(page)
    views_before = audited(node, "resident.read", person.id)
    results.get_by_role("link", name=f"{person.family_name} {person.given_name}").first.click()
    page.wait_for_url(re.compile(r"/residents/[0-9a-f-]{36}$"))
    assert page.get_by_role("heading", level=1).inner_text().startswith(person.family_name)
    # the registry's audit: the record and its moves, each read of them names the person
    assert audited(node, "resident.read", person.id) > views_before
    screenshot(page, "resident")
    assert_accessible(page)
    households_before = audited(node, "household.read")
    page.get_by_role("link", name=re.compile(r"^\d")).first.click()  # the household number
    page.wait_for_url(re.compile(r"/households/[0-9a-f-]{36}$"))
    assert person.family_name in page.get_by_test_id("members").inner_text()
    assert audited(node, "household.read") > households_before
    assert_accessible(page)


def test_a_search_pages_on_the_server(node: ConsoleNode, signed_in: Any) -> None:
    """The most common first character of a 町字 finds more than a page: every match is
    shown once, 20 a page, following the pages' own links. (Before, the test passed
    without paging when its search found 20 or fewer.)"""
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        towns = uow.session.execute(
            select(Resident.town_name, Resident.id).where(Resident.status == "active")
        ).all()
    first_character = Counter(town[:1] for town, _ in towns).most_common(1)[0][0]
    expected = {str(rid) for town, rid in towns if town.startswith(first_character)}
    assert len(expected) > 20, "the demo municipality no longer has more than a page"
    page = signed_in
    page.goto(f"{node.url}/console/t/{node.tenant}/residents?address={first_character}")
    shown: list[str] = []
    sizes = []
    while True:
        links = page.get_by_test_id("results").locator("tbody tr td:first-child a")
        ids = [str(link.get_attribute("href")).rsplit("/", 1)[1] for link in links.all()]
        sizes.append(len(ids))
        shown += ids
        following = page.get_by_role("link", name="次のページ")
        if not following.count():
            break
        following.click()
        page.wait_for_load_state()
    assert sizes[0] == 20 and all(size <= 20 for size in sizes), sizes
    assert len(shown) == len(set(shown)) and set(shown) == expected


def test_import_a_csv_and_watch_its_progress(
    node: ConsoleNode, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUI_RESIDENTS_IMPORT_BATCH_SIZE", "100")  # several steps of progress
    # 千代田区 has no residents yet: the demo file's resident numbers are all new there
    sign_in(page, node, tenant=node.other_tenant)
    page.wait_for_url(re.compile(r"/console/t/131016/$"))
    csv = io.BytesIO()
    write_csv(csv, node.other_tenant, 1500, seed=77)
    page.get_by_role("link", name="CSV取込").click()
    assert_accessible(page)
    page.get_by_label("CSVファイル").set_input_files(
        {"name": "residents.csv", "mimeType": "text/csv", "buffer": csv.getvalue()}
    )
    page.get_by_role("button", name="取込を開始").click()
    page.wait_for_url(re.compile(r"/imports/[A-Za-z0-9_-]+$"))
    seen = set()
    while (
        not page.get_by_test_id("import-done").count()
        and not page.get_by_test_id("import-refused").count()
    ):
        bar = page.get_by_test_id("import-progress")
        if bar.count():
            seen.add(int(bar.get_attribute("value") or 0))
            if len(seen) == 1:
                screenshot(page, "import-progress")
        page.wait_for_timeout(100)
    assert seen, "the progress page was never shown"
    assert page.get_by_test_id("import-done").count(), page.locator("main").inner_text()
    done = page.get_by_test_id("import-done").inner_text()
    assert "1500 人を取り込みました" in done
    assert_accessible(page)
    screenshot(page, "import-done")


def test_an_import_with_bad_rows_lists_each_and_writes_nothing(
    node: ConsoleNode, signed_in: Any
) -> None:
    page = signed_in
    csv = io.BytesIO()
    write_csv(csv, node.tenant, 30, seed=78)
    lines = csv.getvalue().decode().splitlines()
    header = lines[0].split(",")
    birth = next(i for i, name in enumerate(header) if "生年月日" in name)
    broken = lines[5].split(",")
    broken[birth] = "2099-13-45"
    lines[5] = ",".join(broken)
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        before = len(uow.session.execute(select(Resident.id)).all())
    page.goto(f"{node.url}/console/t/{node.tenant}/imports/new")
    page.get_by_label("CSVファイル").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": "\n".join(lines).encode()}
    )
    page.get_by_role("button", name="取込を開始").click()
    page.get_by_test_id("import-refused").wait_for()
    rows = page.get_by_test_id("row-errors").locator("tbody tr").all_inner_texts()
    assert any(row.startswith("6") for row in rows), rows  # line 6: the header is line 1
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        assert len(uow.session.execute(select(Resident.id)).all()) == before
    assert_accessible(page)
    screenshot(page, "import-errors")


def test_console_pages_refuse_a_form_without_its_csrf_token(node: ConsoleNode) -> None:
    answer = httpx.post(
        f"{node.url}/console/sign-in",
        data={"tenant": node.tenant, "username": "sato", "password": "x"},
    )
    assert answer.status_code == 403
    page = httpx.get(f"{node.url}/console/sign-in")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    cookie = page.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_record_a_relocation_and_refuse_one_without_its_address(
    node: ConsoleNode, signed_in: Any
) -> None:
    page = signed_in
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        person = (
            uow.session.execute(
                select(Resident)
                .where(Resident.dv_block.is_(False), Resident.status == "active")
                .order_by(Resident.resident_no.desc())
            )
            .scalars()
            .first()
        )
    page.goto(f"{node.url}/console/t/{node.tenant}/residents/{person.id}")
    moves_before = page.get_by_test_id("moves").locator("tbody tr").count()
    # a relocation without the new address: the registry refuses it, nothing is written
    page.get_by_label("異動", exact=True).select_option("relocation")
    page.get_by_label("異動日").fill("2026-11-30")
    page.get_by_role("button", name="記録する").click()
    assert "町字が空です" in page.get_by_test_id("move-form-error").inner_text()
    assert page.get_by_test_id("moves").locator("tbody tr").count() == moves_before
    assert_accessible(page)
    page.get_by_label("異動日").fill("2026-11-30")
    page.get_by_label("町字").fill("青葉区一番町一丁目")
    page.get_by_label("番地").fill("2-3")
    page.get_by_role("button", name="記録する").click()
    assert "異動を記録しました" in page.get_by_test_id("notice").inner_text()
    moves = page.get_by_test_id("moves").locator("tbody tr")
    assert moves.count() == moves_before + 1
    assert "青葉区一番町一丁目2-3" in page.get_by_test_id("moves").inner_text()
    assert "転居" in page.get_by_test_id("moves").inner_text()


def residents_named(node: ConsoleNode, family_kana: str, tenant: str = "") -> list[Resident]:
    with node.db.unit_of_work(tenant or node.tenant, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(Resident).where(Resident.family_kana == family_kana)
            ).scalars()
        )


def test_a_registration_is_written_only_once_confirmed_and_as_the_registry_allows(
    node: ConsoleNode,
) -> None:
    from tests.console.support.browser import STAFF
    from tests.console.support.staff import Desk, api, token_of

    desk = Desk(node, STAFF, ("staff",), section="residents")
    form = {
        "kind": "move_in",
        "effective_on": "2026-11-01",
        "resident_no": "R-CONSOLE-1",
        "household_no": "H-CONSOLE-1",
        "relationship": "世帯主",
        "family_name": "試験",
        "given_name": "花子",
        "family_kana": "シケンイチ",
        "given_kana": "ハナコ",
        "birth_date": "1990-01-02",
        "sex": "female",
        "town_name": "",  # the registry needs the 町字
        "language": "ja",
    }
    # the confirmation page writes nothing
    review = desk.post("/new", {**form, "step": "review"}, from_page="/new")
    assert review.status_code == 200 and "この内容で登録しますか" in review.text
    assert residents_named(node, "シケンイチ") == []
    # confirmed, the registry refuses it with its reasons, nothing written
    refused = desk.post("/new", {**form, "step": "confirm"}, from_page="/new")
    assert refused.status_code == 422 and "町字が空です" in refused.text
    assert 'value="R-CONSOLE-1"' in refused.text  # what was typed is kept
    # a kind the form does not offer
    odd = desk.post("/new", {**form, "kind": "death", "step": "confirm"}, from_page="/new")
    assert odd.status_code == 422
    forged = desk.client.post(desk.base + "/new", data={**form, "step": "confirm"})
    assert forged.status_code == 403
    assert residents_named(node, "シケンイチ") == []

    # a household's relocation without its 町字: the registry refuses, no one moves
    person = a_resident(node)
    households = Desk(node, STAFF, ("staff",), section="households")
    record = households.client.get(f"/console/t/{node.tenant}/residents/{person.id}")
    household_id = re.search(r"/households/([0-9a-f-]{36})", record.text)
    assert household_id, record.text[:2000]
    path = f"/{household_id.group(1)}"
    moves_before = len(api(node, token_of(node, STAFF), "GET", f"/residents/{person.id}/moves"))
    unmoved = households.post(
        path + "/moves", {"step": "confirm", "effective_on": "2026-11-01"}, from_page=path
    )
    assert unmoved.status_code == 422 and "町字が空です" in unmoved.text
    after = api(node, token_of(node, STAFF), "GET", f"/residents/{person.id}/moves")
    assert len(after) == moves_before


def test_register_a_move_in_then_change_their_household_in_the_browser(
    node: ConsoleNode, page: Any
) -> None:
    # 千代田区: 仙台市's 120 residents are counted by the dashboard's test
    tenant = node.other_tenant
    sign_in(page, node, tenant=tenant)
    page.wait_for_url(re.compile(rf"/console/t/{tenant}/$"))
    page.get_by_role("link", name="住民", exact=True).click()
    page.get_by_test_id("register-link").click()
    page.wait_for_url(re.compile(r"/residents/new$"))
    page.get_by_label("異動日").fill("2026-11-02")
    page.get_by_label("氏", exact=True).fill("転入")
    page.get_by_label("名", exact=True).fill("次郎")
    page.get_by_label("氏（カナ）").fill("テンニュウ")
    page.get_by_label("名（カナ）").fill("ジロウ")
    page.get_by_label("生年月日").fill("1985-03-04")
    page.get_by_label("性別").select_option("male")
    page.get_by_label("宛名番号").fill("R-CONSOLE-2")
    page.get_by_label("世帯番号").fill("H-CONSOLE-2")
    page.get_by_label(re.compile("^続柄")).fill("世帯主")
    page.get_by_label("町字").fill("青葉区二日町")
    page.get_by_label("番地").fill("4-5")
    page.get_by_label(re.compile("^転入前の住所")).fill("東京都千代田区一番町1")
    assert_accessible(page)
    screenshot(page, "resident-register")
    page.get_by_test_id("register-review-button").click()
    review = page.get_by_test_id("register-review").inner_text()
    assert "転入 次郎" in review and "青葉区二日町 4-5" in review
    assert residents_named(node, "テンニュウ", tenant) == []
    assert_accessible(page)
    page.keyboard.press("Enter")  # the confirmation has the focus
    assert "住民を登録しました" in page.get_by_test_id("notice").inner_text()
    [registered] = residents_named(node, "テンニュウ", tenant)
    assert registered.resident_no == "R-CONSOLE-2"

    # 世帯変更: into a new household, as its head
    page.get_by_label("異動", exact=True).select_option("household_change")
    page.get_by_label("異動日").fill("2026-11-20")
    page.get_by_label("世帯番号").fill("H-CONSOLE-3")
    page.get_by_label(re.compile("^続柄")).fill("世帯主")
    page.get_by_role("button", name="記録する").click()
    assert "異動を記録しました" in page.get_by_test_id("notice").inner_text()
    assert "世帯変更" in page.get_by_test_id("moves").inner_text()
    page.get_by_role("link", name=re.compile("H-CONSOLE-3")).first.click()
    assert "転入 次郎" in page.get_by_test_id("members").inner_text()

    # the whole household moves, after its confirmation
    page.get_by_label("異動日").fill("2026-11-25")
    page.get_by_label("町字").fill("青葉区本町一丁目")
    page.get_by_label("番地").fill("7-8")
    page.get_by_role("button", name="確認へ").click()
    assert "青葉区本町一丁目 7-8" in page.get_by_test_id("household-move-review").inner_text()
    assert_accessible(page)
    page.get_by_test_id("household-move-confirm").click()
    assert "世帯全員の転居を記録しました" in page.get_by_test_id("notice").inner_text()
    page.get_by_role("link", name="転入 次郎").click()
    assert "青葉区本町一丁目7-8" in page.get_by_test_id("moves").inner_text()

    # 転出, then back again: the form of someone who moved out offers the 転入 only
    page.get_by_label("異動", exact=True).select_option("move_out")
    page.get_by_label("異動日").fill("2026-11-28")
    page.get_by_label(re.compile("^転出先")).fill("東京都千代田区一番町1")
    page.get_by_role("button", name="記録する").click()
    assert "異動を記録しました" in page.get_by_test_id("notice").inner_text()
    kinds = page.get_by_label("異動", exact=True).locator("option").all_inner_texts()
    assert kinds == ["転入"]
    page.get_by_label("異動日").fill("2026-12-01")
    page.get_by_label("町字").fill("青葉区本町一丁目")
    page.get_by_label("番地").fill("7-8")
    page.get_by_role("button", name="記録する").click()
    assert "異動を記録しました" in page.get_by_test_id("notice").inner_text()
    [back] = residents_named(node, "テンニュウ", tenant)
    assert back.status == "active"
