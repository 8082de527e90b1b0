"""Least privilege: tenants are isolated, auditors read only, a shelter sees the minimum."""

from __future__ import annotations

from tests.residents.conftest import Office, resident_payload
from tests.support.factories import CHIYODA, sign_in, tenant, user


def test_staff_of_another_tenant_get_404(office: Office) -> None:
    resident = office.register()
    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "chiyoda-staff", "staff")
    other = sign_in(office.client, CHIYODA, "chiyoda-staff")
    # their token on our path: the kernel answers as for an unknown tenant
    assert (
        office.client.get(f"{office.api}/residents/{resident['id']}", headers=other).status_code
        == 404
    )
    assert (
        office.client.get(
            f"{office.api}/residents", params={"q": "さとう"}, headers=other
        ).status_code
        == 404
    )
    # our resident's id on their own path: not found in their registry (tenant scope)
    theirs = f"/api/v1/{CHIYODA}"
    assert (
        office.client.get(f"{theirs}/residents/{resident['id']}", headers=other).status_code == 404
    )
    assert (
        office.client.get(
            f"{theirs}/households/{resident['household']['id']}", headers=other
        ).status_code
        == 404
    )
    moved = office.client.post(
        f"{theirs}/residents/{resident['id']}/moves",
        json={"kind": "death", "effective_on": "2024-01-01"},
        headers=other,
    )
    assert moved.status_code == 404
    assert (
        office.client.get(f"{theirs}/residents", params={"q": "さとう"}, headers=other).json()[
            "items"
        ]
        == []
    )
    assert (
        office.client.get(
            f"{theirs}/directory/residents/{resident['id']}", headers=other
        ).status_code
        == 404
    )


def test_auditor_reads_but_does_not_write(office: Office) -> None:
    resident = office.register()
    api, auditor = office.api, office.auditor
    for path in (
        f"/residents/{resident['id']}",
        f"/residents/{resident['id']}/moves",
        f"/households/{resident['household']['id']}",
        "/assistance",
    ):
        assert office.client.get(api + path, headers=auditor).status_code == 200, path
    assert (
        office.client.get(f"{api}/residents", params={"q": "さとう"}, headers=auditor).status_code
        == 200
    )
    writes = [
        ("post", "/residents", resident_payload()),
        ("patch", f"/residents/{resident['id']}", {"version": 1, "phone": "090-0000-0000"}),
        (
            "post",
            f"/residents/{resident['id']}/moves",
            {"kind": "death", "effective_on": "2024-01-01"},
        ),
        ("put", f"/residents/{resident['id']}/dv-block", {"blocked": True}),
        ("put", f"/residents/{resident['id']}/assistance", {"reasons": ["disability"]}),
        ("delete", f"/residents/{resident['id']}/assistance", None),
    ]
    for method, path, body in writes:
        response = office.client.request(method, api + path, json=body, headers=auditor)
        assert response.status_code == 403, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
    assert (
        office.client.post(f"{api}/imports/residents", content=b"x", headers=auditor).status_code
        == 403
    )
    assert office.client.get(f"{api}/exports/residents.csv", headers=auditor).status_code == 403


def test_shelter_sees_only_what_it_needs(office: Office) -> None:
    resident = office.register(phone="090-1111-2222", email="hanako@example.jp")
    api, shelter = office.api, office.shelter
    # no staff views
    for path in (
        f"/residents/{resident['id']}",
        f"/households/{resident['household']['id']}",
        "/assistance",
    ):
        assert office.client.get(api + path, headers=shelter).status_code == 403, path
    assert (
        office.client.get(f"{api}/residents", params={"q": "さとう"}, headers=shelter).status_code
        == 403
    )
    assert office.client.get(f"{api}/exports/residents.csv", headers=shelter).status_code == 403
    # the directory: names, birth date, 町字, household, language, needs assistance — nothing else
    found = office.client.get(
        f"{api}/directory/residents", params={"q": "さとうはなこ"}, headers=shelter
    )
    assert found.status_code == 200
    (item,) = found.json()["items"]
    assert set(item) == {
        "id", "family_name", "given_name", "family_kana", "given_kana", "birth_date", "sex",
        "town_name", "household_id", "language", "needs_assistance",
    }  # fmt: skip
    one = office.client.get(f"{api}/directory/residents/{resident['id']}", headers=shelter)
    assert one.status_code == 200 and "phone" not in one.json() and "block" not in one.json()


def test_other_roles_and_strangers(office: Office) -> None:
    resident = office.register()
    depot = office.headers("depot1", "depot")
    for headers in (depot, office.admin):
        assert (
            office.client.get(
                f"{office.api}/residents/{resident['id']}", headers=headers
            ).status_code
            == 403
        )
        assert (
            office.client.get(
                f"{office.api}/directory/residents", params={"q": "さ"}, headers=headers
            ).status_code
            == 403
        )
    assert office.client.get(f"{office.api}/residents/{resident['id']}").status_code == 401
    assert (
        office.client.get(f"{office.api}/directory/residents", params={"q": "さ"}).status_code
        == 401
    )
