"""Residents, households and their history (異動) over HTTP: every write in the change log,
every read of details in the audit log, "who lived here on date D"."""

from __future__ import annotations

from tests.residents.conftest import (
    Office,
    audit_actions,
    audit_entries,
    log_entries,
    resident_payload,
)


def test_register_read_and_audit(office: Office) -> None:
    created = office.register(
        family_name="髙橋", given_name="一郎", family_kana="ﾀｶﾊｼ", given_kana="いちろう", sex="male"
    )
    assert (
        created["family_kana"] == "タカハシ" and created["given_kana"] == "イチロウ"
    )  # stored as katakana
    assert created["is_head"] and created["status"] == "active" and created["version"] == 1
    assert created["address"]["text"] == "一番町一丁目2-3"

    read = office.client.get(f"{office.api}/residents/{created['id']}", headers=office.staff)
    assert read.status_code == 200 and read.json()["resident_no"] == created["resident_no"]
    read_by_auditor = office.client.get(
        f"{office.api}/residents/{created['id']}", headers=office.auditor
    )
    assert read_by_auditor.status_code == 200

    entries = audit_entries(office)
    reads = [e for e in entries if e["action"] == "resident.read"]
    assert [e["actor"] for e in reads] == ["staff1", "audit1"]
    assert all(e["subject_id"] == created["id"] for e in reads)
    assert "resident.move_in" in [e["action"] for e in entries]


def test_every_write_is_in_the_change_log(office: Office) -> None:
    before = len(log_entries(office.db, office.code))
    created = office.register()
    patched = office.client.patch(
        f"{office.api}/residents/{created['id']}",
        json={"version": 1, "phone": "022-123-4567"},
        headers=office.staff,
    )
    assert patched.status_code == 200, patched.text
    entries = log_entries(office.db, office.code)[before:]
    tables = [(e.table_name, e.op) for e in entries]
    assert ("residents_households", "insert") in tables
    assert ("residents", "insert") in tables
    assert ("residents_moves", "insert") in tables
    assert ("residents", "update") in tables
    update = next(e for e in entries if e.table_name == "residents" and e.op == "update")
    assert (
        update.row is not None
        and update.row["phone"] == "022-123-4567"
        and update.row["version"] == 2
    )
    assert "updated_at" in update.row  # set by the service, so a replica gets it too


def test_stale_version_is_a_conflict(office: Office) -> None:
    created = office.register()
    url = f"{office.api}/residents/{created['id']}"
    assert (
        office.client.patch(
            url, json={"version": 1, "email": "a@example.jp"}, headers=office.staff
        ).status_code
        == 200
    )
    stale = office.client.patch(
        url, json={"version": 1, "email": "b@example.jp"}, headers=office.staff
    )
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"


def test_bad_input_is_problem_json(office: Office) -> None:
    for payload in (
        resident_payload(birth_date="2023-02-30"),
        resident_payload(family_name="=HYPERLINK(1)"),
        resident_payload(family_kana="Sato"),
        resident_payload(sex="x"),
        resident_payload(birth_date="2999-01-01"),
        resident_payload(resident_no="1 2"),
    ):
        response = office.client.post(f"{office.api}/residents", json=payload, headers=office.staff)
        assert response.status_code == 422, payload
        assert response.headers["content-type"] == "application/problem+json"
    duplicate = resident_payload()
    assert (
        office.client.post(
            f"{office.api}/residents", json=duplicate, headers=office.staff
        ).status_code
        == 201
    )
    again = office.client.post(
        f"{office.api}/residents", json={**duplicate, "household_no": "HX"}, headers=office.staff
    )
    assert again.status_code == 409


def test_one_head_per_household(office: Office) -> None:
    head = office.register(household_no="H-ONE")
    second = office.client.post(
        f"{office.api}/residents", json=resident_payload(household_no="H-ONE"), headers=office.staff
    )
    assert second.status_code == 409
    wife = office.register(
        household_no="H-ONE", relationship="妻", given_name="和子", given_kana="カズコ"
    )
    assert wife["household"]["id"] == head["household"]["id"] and not wife["is_head"]


def test_moves_and_who_lived_where_on_a_date(office: Office) -> None:
    api, staff = office.api, office.staff
    head = office.register(household_no="H-MOVE", effective_on="2015-04-01")
    child = office.register(
        household_no="H-MOVE",
        relationship="子",
        given_name="翔太",
        given_kana="ショウタ",
        birth_date="2016-08-01",
        kind="birth",
        effective_on="2016-08-01",
        sex="male",
    )
    # 2020-10-01: the household moves to 二番町 (転居)
    moved = office.client.post(
        f"{api}/households/{head['household']['id']}/moves",
        json={
            "effective_on": "2020-10-01",
            "address": {"town_name": "二番町", "block": "5-1", "building": "コーポ二番町101"},
        },
        headers=staff,
    )
    assert moved.status_code == 201, moved.text
    # 2023-03-15: the child forms a household of their own (世帯変更)
    changed = office.client.post(
        f"{api}/residents/{child['id']}/moves",
        json={
            "kind": "household_change",
            "effective_on": "2023-03-15",
            "household_no": "H-CHILD",
            "relationship": "世帯主",
        },
        headers=staff,
    )
    assert changed.status_code == 201, changed.text
    # 2024-01-10: the head moves out of the city (転出)
    out = office.client.post(
        f"{api}/residents/{head['id']}/moves",
        json={"kind": "move_out", "effective_on": "2024-01-10", "other_address": "東京都千代田区"},
        headers=staff,
    )
    assert out.status_code == 201, out.text

    def at(town: str, block: str, on: str) -> set[str]:
        response = office.client.get(
            f"{api}/addresses/occupants",
            params={"town": town, "block": block, "on": on},
            headers=staff,
        )
        assert response.status_code == 200, response.text
        return {item["resident_id"] for item in response.json()["occupants"]}

    assert at("一番町一丁目", "2-3", "2016-01-01") == {head["id"]}
    assert at("一番町一丁目", "2番3号", "2019-01-01") == {head["id"], child["id"]}  # 2番3号 == 2-3
    assert at("一番町一丁目", "2-3", "2021-01-01") == set()
    assert at("二番町", "5-1", "2021-01-01") == {head["id"], child["id"]}
    assert at("二番町", "5-1", "2024-02-01") == {child["id"]}  # the head moved out on 2024-01-10

    def members(household_id: str, on: str) -> set[str]:
        response = office.client.get(
            f"{api}/households/{household_id}/members", params={"on": on}, headers=staff
        )
        assert response.status_code == 200, response.text
        return {item["resident_id"] for item in response.json()["occupants"]}

    assert members(head["household"]["id"], "2022-01-01") == {head["id"], child["id"]}
    assert members(head["household"]["id"], "2023-06-01") == {head["id"]}
    assert members(head["household"]["id"], "2024-06-01") == set()

    history = office.client.get(f"{api}/residents/{child['id']}/moves", headers=staff).json()
    assert [m["kind"] for m in history] == ["birth", "relocation", "household_change"]
    assert history[1]["from_address"] == "一番町一丁目2-3" and history[1]["to_address"].startswith(
        "二番町5-1"
    )

    # a move dated before the current record, and moving a former resident, are refused
    early = office.client.post(
        f"{api}/residents/{child['id']}/moves",
        json={
            "kind": "relocation",
            "effective_on": "2022-01-01",
            "address": {"town_name": "三番町"},
        },
        headers=staff,
    )
    assert early.status_code == 422
    again = office.client.post(
        f"{api}/residents/{head['id']}/moves",
        json={
            "kind": "relocation",
            "effective_on": "2024-02-01",
            "address": {"town_name": "三番町"},
        },
        headers=staff,
    )
    assert again.status_code == 409
    # 転入 again after the 転出
    back = office.client.post(
        f"{api}/residents/{head['id']}/moves",
        json={
            "kind": "move_in",
            "effective_on": "2024-06-01",
            "address": {"town_name": "三番町", "block": "1"},
        },
        headers=staff,
    )
    assert back.status_code == 201, back.text
    assert at("三番町", "1", "2024-07-01") == {head["id"]}
    assert at("二番町", "5-1", "2023-12-01") == {head["id"], child["id"]}  # history kept
    assert "address.occupants" in audit_actions(office)


def test_death_and_dv_block(office: Office) -> None:
    person = office.register()
    block = office.client.put(
        f"{office.api}/residents/{person['id']}/dv-block",
        json={"blocked": True, "since": "2024-01-01"},
        headers=office.staff,
    )
    assert (
        block.status_code == 200
        and block.json()["dv_block"]
        and block.json()["dv_block_since"] == "2024-01-01"
    )
    died = office.client.post(
        f"{office.api}/residents/{person['id']}/moves",
        json={"kind": "death", "effective_on": "2024-05-01"},
        headers=office.staff,
    )
    assert died.status_code == 201
    read = office.client.get(f"{office.api}/residents/{person['id']}", headers=office.staff).json()
    assert read["status"] == "deceased" and read["status_on"] == "2024-05-01"
    actions = audit_actions(office)
    assert "resident.dv_block" in actions and "resident.death" in actions
