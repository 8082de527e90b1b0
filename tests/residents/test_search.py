"""Name search tolerant of kana, width, spaces and NFKC; by address, date of birth and
household; stable pages with a cursor."""

from __future__ import annotations

from typing import Any

from tests.residents.conftest import Office, audit_entries


def _search(office: Office, **params: Any) -> dict[str, Any]:
    response = office.client.get(f"{office.api}/residents", params=params, headers=office.staff)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_name_search_is_tolerant(office: Office) -> None:
    hanako = office.register(
        family_name="佐藤", given_name="花子", family_kana="サトウ", given_kana="ハナコ"
    )
    office.register(
        family_name="佐藤", given_name="太郎", family_kana="サトウ", given_kana="タロウ", sex="male"
    )
    taka = office.register(
        family_name="髙橋", given_name="一", family_kana="タカハシ", given_kana="ハジメ", sex="male"
    )
    office.register(
        family_name="SMITH",
        given_name="JOHN",
        family_kana="スミス",
        given_kana="ジョン",
        sex="male",
        nationality="アメリカ合衆国",
    )

    for query in ("さとう　はなこ", "ｻﾄｳﾊﾅｺ", "サトウ ハナコ", "佐藤花子", "佐藤 花", "さとうは"):
        ids = [item["id"] for item in _search(office, q=query)["items"]]
        assert ids == [hanako["id"]], query
    assert len(_search(office, q="さとう")["items"]) == 2
    assert [i["id"] for i in _search(office, q="高橋")["items"]] == [taka["id"]]  # 髙 = 高
    assert len(_search(office, q="ｓｍｉｔｈ")["items"]) == 1
    assert len(_search(office, q="すみす じょん")["items"]) == 1
    assert _search(office, q="さとうはなこやまだ")["items"] == []


def test_search_by_address_birth_date_household(office: Office) -> None:
    a = office.register(
        birth_date="1950-01-02",
        household_no="H-S1",
        address={"town_name": "青葉区本町二丁目", "block": "1-5"},
    )
    b = office.register(
        birth_date="1950-01-02",
        household_no="H-S1",
        relationship="妻",
        given_name="和子",
        given_kana="カズコ",
        address={"town_name": "青葉区本町二丁目", "block": "1-5"},
    )
    office.register(birth_date="1990-03-04", address={"town_name": "青葉区一番町", "block": "9"})
    assert {i["id"] for i in _search(office, address="青葉区本町2丁目1番5号")["items"]} == {
        a["id"],
        b["id"],
    }
    assert {i["id"] for i in _search(office, address="青葉区")["items"]} >= {a["id"], b["id"]}
    assert {i["id"] for i in _search(office, birth_date="1950-01-02")["items"]} == {
        a["id"],
        b["id"],
    }
    members = _search(office, household_no="H-S1")["items"]
    assert {i["id"] for i in members} == {a["id"], b["id"]} and {
        i["household_no"] for i in members
    } == {"H-S1"}
    both = _search(office, q="かずこ", household_no="H-S1")["items"]
    assert both == [] or [i["id"] for i in both] == [b["id"]]
    assert [
        i["id"] for i in _search(office, q="さとうかずこ", birth_date="1950-01-02")["items"]
    ] == [b["id"]]


def test_pages_are_stable_and_complete(office: Office) -> None:
    created = [
        office.register(given_name=name, given_kana=kana)
        for name, kana in [
            ("一", "ハジメ"),
            ("二郎", "ジロウ"),
            ("三郎", "サブロウ"),
            ("四郎", "シロウ"),
            ("五郎", "ゴロウ"),
        ]
    ]
    twin = office.register(
        given_name="二郎", given_kana="ジロウ"
    )  # same name: the id breaks the tie
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        page = _search(office, q="さとう", limit=2, cursor=cursor)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            break
    assert sorted(seen) == sorted([c["id"] for c in created] + [twin["id"]])
    assert len(seen) == len(set(seen))
    again = [item["id"] for item in _search(office, q="さとう", limit=100)["items"]]
    assert again == seen  # the same order, whatever the page size
    bad = office.client.get(
        f"{office.api}/residents",
        params={"q": "さとう", "cursor": "not-a-cursor"},
        headers=office.staff,
    )
    assert bad.status_code == 422


def test_search_needs_a_filter_and_is_audited(office: Office) -> None:
    office.register()
    empty = office.client.get(f"{office.api}/residents", headers=office.staff)
    assert empty.status_code == 422 and empty.headers["content-type"] == "application/problem+json"
    _search(office, q="さとう")
    searches = [e for e in audit_entries(office) if e["action"] == "resident.search"]
    assert searches and searches[-1]["detail"]["query"] == {"q": "さとう"}
    assert searches[-1]["actor"] == "staff1" and len(searches[-1]["detail"]["results"]) == 1


def test_moved_out_residents_only_on_request(office: Office) -> None:
    person = office.register(given_name="転出", given_kana="テンシュツ")
    office.client.post(
        f"{office.api}/residents/{person['id']}/moves",
        json={"kind": "move_out", "effective_on": "2024-01-01"},
        headers=office.staff,
    )
    assert _search(office, q="さとうてんしゅつ")["items"] == []
    found = _search(office, q="さとうてんしゅつ", include_inactive=True)["items"]
    assert [i["status"] for i in found] == ["moved_out"]
