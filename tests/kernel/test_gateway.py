"""Any site serves any tenant: writes go to the primary, reads may stay on a replica."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import TEST_SECRET
from tests.support.factories import PASSWORD, SENDAI, tenant, user
from tests.support.servers import serving
from yui.auth.models import StaffUser
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.http.gateway import Route
from yui.sandbox.etcd import free_ports
from yui.settings import load_settings
from yui.site import create_app


def _site(tmp_path: Path, name: str) -> Database:
    db = Database(f"sqlite:///{tmp_path / name}.db")
    db.migrate()
    tenant(db)  # both copies start with the same rows, as replication would leave them
    user(db, SENDAI, "boss", "admin")
    return db


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[tuple[Database, Database, str]]:
    primary_db, replica_db = _site(tmp_path, "primary"), _site(tmp_path, "replica")
    settings = load_settings(
        site="site-a", data_dir=tmp_path, token_secret=TEST_SECRET, log_json=False
    )
    primary_app = create_app(settings, primary_db, migrate=False)
    with serving(primary_app) as url:
        yield primary_db, replica_db, url
    primary_db.dispose()
    replica_db.dispose()


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[object]:
    clients: list[TestClient] = []

    def make(replica_db: Database, primary_url: str | None) -> TestClient:
        client = _replica_client(tmp_path, replica_db, primary_url)
        client.__enter__()  # one event loop for the client's lifetime, as under uvicorn
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _replica_client(tmp_path: Path, replica_db: Database, primary_url: str | None) -> TestClient:
    def lookup(code: str) -> Route | None:
        return Route(primary="site-a", primary_url=primary_url, has_local_copy=True, lag_entries=0)

    def gate(code: str) -> None:
        raise NotPrimary(f"site-b is a replica of {code}")

    settings = load_settings(
        site="site-b", data_dir=tmp_path, token_secret=TEST_SECRET, log_json=False
    )
    app = create_app(settings, replica_db, migrate=False, route_lookup=lookup, write_gate=gate)
    return TestClient(app, raise_server_exceptions=False)


def _token(client: TestClient) -> dict[str, str]:
    response = client.post(
        f"/api/v1/{SENDAI}/auth/token", json={"username": "boss", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-yui-forwarded-to"] == "site-a"  # the sign-in is audited: a write
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _usernames(db: Database) -> set[str]:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return set(uow.session.execute(select(StaffUser.username)).scalars())


def test_a_write_at_a_replica_is_forwarded_to_the_primary(
    sites: tuple[Database, Database, str], replica: Any
) -> None:
    primary_db, replica_db, url = sites
    client = replica(replica_db, url)
    headers = _token(client)
    new = {"username": "sato", "password": "a long enough password", "roles": ["staff"]}
    response = client.post(f"/api/v1/{SENDAI}/users", json=new, headers=headers)
    assert response.status_code == 201
    assert (
        response.headers["x-yui-served-by"] == "site-a"
        and response.headers["x-yui-site"] == "site-b"
    )
    assert "sato" in _usernames(primary_db) and "sato" not in _usernames(replica_db)


def test_reads_stay_on_the_replica_unless_the_client_wants_the_primary(
    sites: tuple[Database, Database, str], replica: Any
) -> None:
    _, replica_db, url = sites
    client = replica(replica_db, url)
    headers = _token(client)
    local = client.get(f"/api/v1/{SENDAI}/users", headers=headers)
    assert local.status_code == 200
    assert (
        local.headers["x-yui-copy"] == "replica"
        and local.headers["x-yui-replica-lag-entries"] == "0"
    )
    fresh = client.get(
        f"/api/v1/{SENDAI}/users", headers={**headers, "X-Yui-Consistency": "primary"}
    )
    assert fresh.status_code == 200 and fresh.headers["x-yui-served-by"] == "site-a"


def test_the_replica_never_writes_even_when_asked_directly(
    sites: tuple[Database, Database, str], replica: Any
) -> None:
    _, replica_db, url = sites
    client = replica(replica_db, url)
    headers = {
        **_token(client),
        "X-Yui-Forwarded-By": "someone",
    }  # pretends to be forwarded already
    new = {"username": "sneaky", "password": "a long enough password", "roles": ["staff"]}
    response = client.post(f"/api/v1/{SENDAI}/users", json=new, headers=headers)
    assert response.status_code == 421
    assert response.headers["content-type"] == "application/problem+json"
    assert "sneaky" not in _usernames(replica_db)


def test_an_unreachable_primary_is_a_clear_503(
    sites: tuple[Database, Database, str], replica: Any
) -> None:
    _, replica_db, _ = sites
    (dead_port,) = free_ports(1)
    client = replica(replica_db, f"http://127.0.0.1:{dead_port}")
    response = client.post(
        f"/api/v1/{SENDAI}/auth/token", json={"username": "boss", "password": PASSWORD}
    )
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "unreachable" in response.json()["detail"]


def test_an_audited_read_at_a_replica_is_served_by_the_primary(
    tmp_path: Path, replica: Any
) -> None:
    """Reading a resident's details writes an audit entry; a replica cannot write (421 from
    its write fence), so the gateway forwards the read and the audit lands at the primary."""
    import sqlite3

    import httpx

    from tests.residents.conftest import resident_payload

    primary_db = _site(tmp_path, "primary")
    user(primary_db, SENDAI, "clerk", "staff")
    settings = load_settings(
        site="site-a", data_dir=tmp_path, token_secret=TEST_SECRET, log_json=False
    )
    with serving(create_app(settings, primary_db, migrate=False)) as url:
        api = f"{url}/api/v1/{SENDAI}"
        token = httpx.post(f"{api}/auth/token", json={"username": "clerk", "password": PASSWORD})
        staff = {"Authorization": f"Bearer {token.json()['access_token']}"}
        created = httpx.post(f"{api}/residents", json=resident_payload(), headers=staff)
        assert created.status_code == 201, created.text
        resident_id = created.json()["id"]
        # the replica holds the same rows, as replication would leave them
        with (
            sqlite3.connect(tmp_path / "primary.db") as source,
            sqlite3.connect(tmp_path / "replica.db") as copy,
        ):
            source.backup(copy)
        replica_db = Database(f"sqlite:///{tmp_path / 'replica.db'}")
        client = replica(replica_db, url)

        boss = httpx.post(f"{api}/auth/token", json={"username": "boss", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {boss.json()['access_token']}"}

        def audited() -> int:
            answer = httpx.get(f"{api}/audit", params={"limit": 1000}, headers=admin)
            assert answer.status_code == 200, answer.text
            return sum(1 for entry in answer.json() if entry["subject_id"] == resident_id)

        before = audited()
        shown = client.get(f"/api/v1/{SENDAI}/residents/{resident_id}", headers=staff)
        assert shown.status_code == 200, shown.text
        assert shown.json()["id"] == resident_id
        assert shown.headers["x-yui-served-by"] == "site-a"  # not the replica's copy
        assert "x-yui-copy" not in shown.headers
        assert audited() == before + 1
        replica_db.dispose()
    primary_db.dispose()
