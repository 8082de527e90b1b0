"""A resident under a DV-support block (支援措置) appears in no output beyond the staff:
the directory (a shelter's screen), the ports other services read, the shareable
register, the exports for other systems (CSV, PFIF) — tested one by one."""

from __future__ import annotations

from typing import Any

import pytest

from residents.directory.service import Directory
from tests.residents.conftest import Office
from yui.service_ports import Audience, ResidentDirectory

SECRET = {"family_name": "秘匿", "given_name": "花", "family_kana": "ヒトク", "given_kana": "ハナ"}


@pytest.fixture
def blocked(office: Office) -> dict[str, Any]:
    """A DV-blocked resident who needs assistance and consented, next to an ordinary one."""
    person = office.register(**SECRET)
    neighbour = office.register(
        family_name="秘匿", given_name="太郎", family_kana="ヒトク", given_kana="タロウ", sex="male"
    )
    for who in (person, neighbour):
        entry = office.client.put(
            f"{office.api}/residents/{who['id']}/assistance",
            json={
                "reasons": ["disability"],
                "consent_to_share": True,
                "supporters": [{"name": "民生 委員", "role": "民生委員"}],
            },
            headers=office.staff,
        )
        assert entry.status_code == 200, entry.text
    office.block(person["id"])
    return {"person": person, "neighbour": neighbour}


def test_staff_still_see_the_blocked_resident(office: Office, blocked: dict[str, Any]) -> None:
    found = office.client.get(
        f"{office.api}/residents", params={"q": "ひとく"}, headers=office.staff
    ).json()["items"]
    assert {i["id"]: i["dv_block"] for i in found} == {
        blocked["person"]["id"]: True,
        blocked["neighbour"]["id"]: False,
    }
    staff_list = office.client.get(f"{office.api}/assistance", headers=office.staff).json()
    assert blocked["person"]["id"] in {e["resident_id"] for e in staff_list}


def test_directory_never_shows_them(office: Office, blocked: dict[str, Any]) -> None:
    for headers in (office.shelter, office.staff):  # the directory is the non-staff view for anyone
        found = office.client.get(
            f"{office.api}/directory/residents", params={"q": "ひとく"}, headers=headers
        )
        assert [i["id"] for i in found.json()["items"]] == [blocked["neighbour"]["id"]]
        by_birth = office.client.get(
            f"{office.api}/directory/residents",
            params={"birth_date": "1980-05-06"},
            headers=headers,
        )
        assert blocked["person"]["id"] not in {i["id"] for i in by_birth.json()["items"]}
        one = office.client.get(
            f"{office.api}/directory/residents/{blocked['person']['id']}", headers=headers
        )
        assert one.status_code == 404  # the same answer as for no such person
        shared = office.client.get(
            f"{office.api}/directory/assistance", params={"disaster": True}, headers=headers
        )
        assert [e["id"] for e in shared.json()] == [blocked["neighbour"]["id"]]


def test_shareable_register_and_its_export(office: Office, blocked: dict[str, Any]) -> None:
    shareable = office.client.get(
        f"{office.api}/assistance",
        params={"shareable": True, "disaster": True},
        headers=office.staff,
    )
    assert [e["resident_id"] for e in shareable.json()] == [blocked["neighbour"]["id"]]
    exported = office.client.get(
        f"{office.api}/exports/assistance.csv", params={"disaster": True}, headers=office.staff
    )
    assert exported.status_code == 200
    text = exported.content.decode()
    assert "秘匿\u3000太郎" in text and "秘匿\u3000花" not in text


def test_exports_for_other_systems(office: Office, blocked: dict[str, Any]) -> None:
    csv_default = office.client.get(f"{office.api}/exports/residents.csv", headers=office.staff)
    assert csv_default.status_code == 200
    assert "秘匿\u3000太郎" in csv_default.text and "秘匿\u3000花" not in csv_default.text
    pfif = office.client.get(f"{office.api}/exports/residents.pfif.xml", headers=office.staff)
    assert pfif.status_code == 200 and "<pfif:given_name>太郎</pfif:given_name>" in pfif.text
    assert "ハナ" not in pfif.text and blocked["person"]["id"] not in pfif.text
    # a migration to another municipal system may carry them, only when asked, flagged
    full = office.client.get(
        f"{office.api}/exports/residents.csv",
        params={"include_restricted": True},
        headers=office.staff,
    )
    line = next(line for line in full.text.splitlines() if "秘匿\u3000花" in line)
    assert line.endswith(",1")  # the 支援措置 column


def test_ports_for_other_services(office: Office, blocked: dict[str, Any]) -> None:
    directory = Directory(office.db)
    assert isinstance(directory, ResidentDirectory)
    person, neighbour = blocked["person"]["id"], blocked["neighbour"]["id"]
    code = office.code

    assert directory.lookup(code, person, audience=Audience.NON_STAFF, actor="safety-check") is None
    assert [
        f.resident_id
        for f in directory.find(code, "ひとく", audience=Audience.NON_STAFF, actor="safety-check")
    ] == [neighbour]
    for disaster in (False, True):
        listed = directory.needs_assistance(
            code, audience=Audience.NON_STAFF, actor="safety-check", disaster=disaster
        )
        assert [a.resident.resident_id for a in listed] == [neighbour]
    # staff of another service (safety confirmation's call centre) may reach them, flagged
    staff_view = directory.lookup(code, person, audience=Audience.STAFF, actor="safety-check:staff")
    assert staff_view is not None and staff_view.dv_block and staff_view.needs_assistance
    listed = directory.needs_assistance(code, audience=Audience.STAFF, actor="safety-check:staff")
    assert {a.resident.resident_id for a in listed} == {person, neighbour}


def test_consent_decides_in_normal_times(office: Office) -> None:
    person = office.register()
    office.client.put(
        f"{office.api}/residents/{person['id']}/assistance",
        json={"reasons": ["elderly_alone"], "consent_to_share": False},
        headers=office.staff,
    )
    directory = Directory(office.db)
    assert directory.needs_assistance(office.code, audience=Audience.NON_STAFF, actor="t") == []
    assert (
        len(
            directory.needs_assistance(
                office.code, audience=Audience.NON_STAFF, actor="t", disaster=True
            )
        )
        == 1
    )
