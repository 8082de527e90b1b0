"""Fixtures of the resident registry's tests: a tenant with signed-in staff, builders."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support.factories import SENDAI, sign_in, tenant, user
from yui.changelog.models import ChangeLogEntry
from yui.db.database import Database

HEADER = "宛名番号,世帯番号,氏名,氏名の振り仮名,生年月日,性別,続柄,町字,番地,方書,電話番号,支援措置"
_numbers = itertools.count(1)


@dataclass
class Office:
    """One municipality's office: its code, the API prefix, and signed-in headers by role."""

    code: str
    client: TestClient
    db: Database
    staff: dict[str, str]
    auditor: dict[str, str]
    shelter: dict[str, str]
    _admin: dict[str, str] | None = None

    @property
    def admin(self) -> dict[str, str]:
        if self._admin is None:
            self._admin = self.headers("admin1", "admin")
        return self._admin

    @property
    def api(self) -> str:
        return f"/api/v1/{self.code}"

    def headers(self, username: str, *roles: str) -> dict[str, str]:
        user(self.db, self.code, username, *roles)
        return sign_in(self.client, self.code, username)

    def register(self, **overrides: Any) -> dict[str, Any]:
        response = self.client.post(
            f"{self.api}/residents", json=resident_payload(**overrides), headers=self.staff
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def block(self, resident_id: str) -> None:
        """Place the resident under a DV-support block, as staff do."""
        response = self.client.put(
            f"{self.api}/residents/{resident_id}/dv-block",
            json={"blocked": True},
            headers=self.staff,
        )
        assert response.status_code == 200, response.text


def resident_payload(**overrides: Any) -> dict[str, Any]:
    number = next(_numbers)
    payload: dict[str, Any] = {
        "kind": "move_in",
        "effective_on": "2020-04-01",
        "resident_no": f"R{number:06d}",
        "household_no": f"H{number:06d}",
        "relationship": "世帯主",
        "family_name": "佐藤",
        "given_name": "花子",
        "family_kana": "サトウ",
        "given_kana": "ハナコ",
        "birth_date": "1980-05-06",
        "sex": "female",
        "address": {"town_code": "0010001", "town_name": "一番町一丁目", "block": "2-3"},
        "phone": "090-1234-5678",
        "language": "ja",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def office(client: TestClient, db: Database) -> Iterator[Office]:
    tenant(db)
    user(db, SENDAI, "staff1", "staff")
    user(db, SENDAI, "audit1", "auditor")
    user(db, SENDAI, "shelter1", "shelter")
    yield Office(
        SENDAI,
        client,
        db,
        staff=sign_in(client, SENDAI, "staff1"),
        auditor=sign_in(client, SENDAI, "audit1"),
        shelter=sign_in(client, SENDAI, "shelter1"),
    )


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode(encoding)


def log_entries(db: Database, code: str) -> list[ChangeLogEntry]:
    with db.unit_of_work(code, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(ChangeLogEntry)
                .where(ChangeLogEntry.tenant_id == code)
                .order_by(ChangeLogEntry.seq)
            ).scalars()
        )


def audit_entries(office: Office) -> list[dict[str, Any]]:
    response = office.client.get(
        f"{office.api}/audit", params={"limit": 1000}, headers=office.admin
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


def audit_actions(office: Office) -> list[str]:
    response = office.client.get(
        f"{office.api}/audit", params={"limit": 1000}, headers=office.admin
    )
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()]
