"""Malformed input gets problem+json with a 4xx, never a 500, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from tests.support.factories import CHIYODA, SENDAI, sign_in, tenant, user
from yui.auth.models import StaffUser
from yui.db import engine
from yui.db.database import Database
from yui.db.engine import is_sqlite
from yui.settings import Settings

PROBLEM = "application/problem+json"


def _is_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and str(body["type"]).startswith("https://")
    assert " / " in str(body["title"])  # Japanese / English
    return body


def test_malformed_json_is_400(client: TestClient, db: Database) -> None:
    tenant(db)
    response = client.post(
        f"/api/v1/{SENDAI}/auth/token",
        content=b'{"username": "a", ',
        headers={"content-type": "application/json"},
    )
    _is_problem(response, 400)


def test_wrong_types_are_422_with_the_field_named(client: TestClient, db: Database) -> None:
    tenant(db)
    response = client.post(f"/api/v1/{SENDAI}/auth/token", json={"username": 12, "password": ["x"]})
    body = _is_problem(response, 422)
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "username"), ("body", "password")}  # type: ignore[union-attr,index]


def test_huge_bodies_are_413_by_header_and_by_stream(client: TestClient, db: Database) -> None:
    tenant(db)
    user(db, SENDAI, "boss", "admin")
    headers = sign_in(client, SENDAI, "boss")
    big = b'{"username": "' + b"a" * 2_000_000 + b'"}'
    _is_problem(
        client.post(
            f"/api/v1/{SENDAI}/users",
            content=big,
            headers={**headers, "content-type": "application/json"},
        ),
        413,
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"a" * 65536

    response = client.post(
        f"/api/v1/{SENDAI}/users",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    _is_problem(response, 413)
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(StaffUser)).scalar() == 1


def test_tenant_codes_in_the_path(client: TestClient, db: Database) -> None:
    tenant(db)
    assert "check digit" in str(_is_problem(client.get("/api/v1/041008/auth/me"), 422)["detail"])
    _is_problem(client.get("/api/v1/04100x/auth/me"), 422)
    _is_problem(client.get("/api/v1/131016/auth/me"), 404)  # valid, not served here


def test_unknown_route_and_method(client: TestClient) -> None:
    _is_problem(client.get("/nope"), 404)
    _is_problem(client.delete("/healthz"), 405)


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "drill-0001-abc"})
    assert response.headers["x-request-id"] == "drill-0001-abc"
    assert response.headers["x-yui-site"] == "test-site"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers[
        "x-request-id"
    ]
    assert len(made) == 32 and " " not in made


def test_a_write_stuck_behind_a_held_lock_gets_a_503_and_changes_nothing(
    database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "LOCK_WAIT_MS", 300)  # production waits 30 s
    db = Database(database_url)
    db.migrate(SCHEMA_HISTORY)
    tenant(db)
    user(db, SENDAI, "boss", "admin")
    new = {"username": "tanaka", "display_name": "田中", "password": "x" * 16, "roles": ["shelter"]}
    with TestClient(
        create_app(settings, db, migrate=False), raise_server_exceptions=False
    ) as client:
        admin = sign_in(client, SENDAI, "boss")
        with db.engine.connect() as holder, holder.begin():  # a stalled transaction
            if not is_sqlite(db.engine):  # (SQLite's BEGIN IMMEDIATE already holds the lock)
                holder.exec_driver_sql("LOCK TABLE staff_users IN ACCESS EXCLUSIVE MODE")
            stuck = client.post(f"/api/v1/{SENDAI}/users", json=new, headers=admin)
        body = _is_problem(stuck, 503)
        assert body["type"] == "https://yui.example/problems/database-busy"
        assert stuck.headers["retry-after"] == "1"
        with db.unit_of_work(SENDAI, read_only=True) as uow:
            assert (
                uow.session.scalar(
                    select(func.count())
                    .select_from(StaffUser)
                    .where(StaffUser.username == "tanaka")
                )
                == 0
            )
        # the lock released, the client's retry goes through
        assert client.post(f"/api/v1/{SENDAI}/users", json=new, headers=admin).status_code == 201
    db.dispose()


def test_a_write_that_finds_no_free_connection_gets_a_503_and_changes_nothing(
    database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site whose connection pool stays exhausted (drills under heavy load) is busy, not
    broken: a retryable 503, never a 500, and nothing written."""
    monkeypatch.setattr(engine, "POOL_WAIT_SECONDS", 0.3)  # production waits 30 s
    db = Database(database_url)
    db.migrate(SCHEMA_HISTORY)
    tenant(db)
    user(db, SENDAI, "boss", "admin")
    new = {"username": "sato", "display_name": "佐藤", "password": "x" * 16, "roles": ["shelter"]}
    with TestClient(
        create_app(settings, db, migrate=False), raise_server_exceptions=False
    ) as client:
        admin = sign_in(client, SENDAI, "boss")
        pool = db.engine.pool
        held = [db.engine.connect() for _ in range(pool.size() + db.engine.pool._max_overflow)]  # type: ignore[attr-defined]
        try:
            busy = client.post(f"/api/v1/{SENDAI}/users", json=new, headers=admin)
        finally:
            for connection in held:
                connection.close()
        body = _is_problem(busy, 503)
        assert body["type"] == "https://yui.example/problems/database-busy"
        assert busy.headers["retry-after"] == "1"
        with db.unit_of_work(SENDAI, read_only=True) as uow:
            assert (
                uow.session.scalar(
                    select(func.count()).select_from(StaffUser).where(StaffUser.username == "sato")
                )
                == 0
            )
        assert client.post(f"/api/v1/{SENDAI}/users", json=new, headers=admin).status_code == 201
    db.dispose()


def test_405_lists_every_allowed_method(client: TestClient, db: Database) -> None:
    tenant(db)
    for path in (f"/api/v1/{SENDAI}/users", "/healthz"):
        response = client.delete(path)
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        allowed = set(response.headers["allow"].split(", "))
        # Allow names exactly the methods the path answers without a 405.
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
            answered = client.request(method, path).status_code != 405
            assert answered == (method in allowed), (path, method, allowed)
    assert {"GET", "POST"} <= set(
        client.delete(f"/api/v1/{SENDAI}/users").headers["allow"].split(", ")
    )


def test_a_tenant_this_site_does_not_hold_is_404_and_nothing_is_written(
    client: TestClient, db: Database
) -> None:
    """The tenant check every tenant path makes (yui.http.deps.tenant_code): a valid code
    of a municipality this site does not serve is 404, for a read and for a write."""
    tenant(db)  # Sendai only: Chiyoda's code is valid, its tenant is not here
    user(db, SENDAI, "sato", "admin")
    headers = sign_in(client, SENDAI, "sato")
    body = _is_problem(client.get(f"/api/v1/{CHIYODA}/auth/me", headers=headers), 404)
    assert CHIYODA in str(body["detail"])
    _is_problem(
        client.post(
            f"/api/v1/{CHIYODA}/users",
            json={"username": "tanaka", "password": "x" * 16, "roles": ["staff"]},
            headers=headers,
        ),
        404,
    )
    with db.unit_of_work(None, read_only=True, all_tenants=True) as uow:
        count = uow.session.execute(select(func.count()).select_from(StaffUser)).scalar_one()
    assert count == 1  # sato only
    # The check remembers the tenants it found, never one it did not: Chiyoda, created
    # (here, or by replication) after its 404, is served at once.
    tenant(db, CHIYODA)
    user(db, CHIYODA, "tanaka", "admin")
    chiyoda = sign_in(client, CHIYODA, "tanaka")
    assert client.get(f"/api/v1/{CHIYODA}/auth/me", headers=chiyoda).status_code == 200
