"""One rule for text (no NUL, C0 except tab/newline in free text, C1) and for dates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.residents.conftest import Office, resident_payload
from yui.text import InputModel

PROBLEM = "application/problem+json"
CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9b", "\x9f"]


def _refused(response: Any, *field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    locations = [error["loc"][-len(field) :] for error in body["errors"]]
    assert list(field) in locations, body
    assert any(error["type"] == "control_character" for error in body["errors"]), body
    assert ".".join(field) in body["detail"], body


def _household_move(office: Office, note: str) -> Any:
    head = office.register()
    return office.client.post(
        f"{office.api}/households/{head['household']['id']}/moves",
        json={
            "effective_on": "2021-04-01",
            "address": {"town_name": "二番町", "block": "1-1"},
            "note": note,
        },
        headers=office.staff,
    )


@pytest.mark.parametrize("control", ["\x00", "\x85"])
def test_a_control_character_in_a_household_move_note_is_a_422_naming_the_field(
    office: Office, control: str
) -> None:
    response = _household_move(office, f"引越し{control}メモ")
    _refused(response, "note")


def test_free_text_keeps_tab_and_newline(office: Office) -> None:
    response = _household_move(office, "一行目\n二行目\tタブ")
    assert response.status_code == 201, response.text
    assert response.json()[0]["note"] == "一行目\n二行目\tタブ"


@pytest.mark.parametrize("control", CONTROLS)
def test_email_with_a_control_character_is_refused_and_nothing_is_written(
    office: Office, control: str
) -> None:
    payload = resident_payload(email=f"a{control}b@example.jp")
    response = office.client.post(f"{office.api}/residents", json=payload, headers=office.staff)
    _refused(response, "email")
    search = office.client.get(
        f"{office.api}/residents", params={"q": "佐藤"}, headers=office.staff
    )
    assert search.status_code == 200, search.text
    assert search.json()["items"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/residents", resident_payload(address={"town_name": "一番町", "block": "1\n2"})),
        ("/residents", resident_payload(previous_address="東京都\x00")),
        ("/residents", resident_payload(nationality="\x9b31m")),
        (
            "/users",
            {
                "username": "sato",
                "display_name": "佐藤\x07",
                "password": "x" * 12,
                "roles": ["staff"],
            },
        ),
    ],
)
def test_one_line_fields_refuse_every_control_character(
    office: Office, path: str, body: dict[str, Any]
) -> None:
    headers = office.headers("both1", "admin", "staff")
    response = office.client.post(f"{office.api}{path}", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert any(error["type"] == "control_character" for error in response.json()["errors"])


def test_sign_in_with_a_control_character_is_a_422_not_a_500(office: Office) -> None:
    response = office.client.post(
        f"{office.api}/auth/token", json={"username": "staff1\x00", "password": "p\x85" * 6}
    )
    _refused(response, "username")


def test_query_text_refuses_control_characters(office: Office) -> None:
    for path, params in (
        ("/residents", {"q": "佐藤\x00"}),
        ("/addresses/occupants", {"town": "一番町\x1b"}),
    ):
        response = office.client.get(f"{office.api}{path}", params=params, headers=office.staff)
        assert response.status_code == 422, (path, response.text)


@pytest.mark.parametrize("on", ["0", "1700000000", "2021-04-01T00:00:00", "20210401"])
def test_a_date_is_written_yyyy_mm_dd_not_seconds_since_1970(office: Office, on: str) -> None:
    head = office.register()
    response = office.client.get(
        f"{office.api}/households/{head['household']['id']}/members",
        params={"on": on},
        headers=office.staff,
    )
    assert response.status_code == 422, response.text
    assert "YYYY-MM-DD" in response.text


def test_a_date_in_a_body_is_not_read_as_seconds(office: Office) -> None:
    response = office.client.post(
        f"{office.api}/residents", json=resident_payload(birth_date=0), headers=office.staff
    )
    assert response.status_code == 422, response.text


def test_every_request_schema_derives_from_the_kernel_input_model() -> None:
    """A new request schema cannot forget the rule: every schema a request body refers to
    (and every schema nested in one) derives from InputModel."""
    from pydantic import BaseModel

    from assembly.site import create_app
    from tests.conftest import TEST_SECRET
    from yui.settings import load_settings

    app = create_app(load_settings(token_secret=TEST_SECRET, database_url="sqlite://"))
    document = app.openapi()
    components = document["components"]["schemas"]

    def refs(node: Any) -> set[str]:
        if isinstance(node, dict):
            found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
            return found.union(*(refs(value) for value in node.values()))
        if isinstance(node, list):
            return set().union(*(refs(value) for value in node))
        return set()

    names: set[str] = set()
    todo = {
        name
        for path in document["paths"].values()
        for operation in path.values()
        for name in refs(operation.get("requestBody", {}))
    }
    while todo:
        name = todo.pop()
        names.add(name)
        todo |= refs(components.get(name, {})) - names

    def subclasses(cls: type) -> list[type]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    classes = {cls.__name__: cls for cls in subclasses(BaseModel)}
    schemas = {
        name: classes[name]
        for name in names
        if name in classes and "properties" in components[name]
    }
    assert {"ResidentIn", "AddressIn", "SupporterIn", "LoginIn"} <= set(schemas)
    assert sorted(n for n, cls in schemas.items() if not issubclass(cls, InputModel)) == []


def test_times_in_responses_always_carry_their_zone(office: Office) -> None:
    """OpenAPI date-time needs a zone; SQLite gives stored times back without one."""
    from datetime import datetime

    created = office.register()
    read = office.client.get(f"{office.api}/residents/{created['id']}", headers=office.staff)
    moves = office.client.get(f"{office.api}/residents/{created['id']}/moves", headers=office.staff)
    users = office.client.get(f"{office.api}/users", headers=office.admin)
    times = [
        read.json()["created_at"],
        read.json()["updated_at"],
        *(move["recorded_at"] for move in moves.json()),
        *(account["created_at"] for account in users.json()),
    ]
    assert len(times) >= 4
    for text in times:
        assert datetime.fromisoformat(text).tzinfo is not None, text
