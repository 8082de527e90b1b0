"""The drill-probe endpoint: idempotent by id (201, then 200), 409 on other content, fenced."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from failover.drill.copies import quarantined_entries, read_copy
from failover.drill.models import DrillProbe
from tests.support.drill_sites import mount_probes, site_app, site_db
from tests.support.factories import CHIYODA, SENDAI, sign_in, tenant, user
from yui.changelog.models import ChangeLogEntry, LogHead
from yui.db.database import Database
from yui.db.fencing import NotPrimary

PATH = f"/api/v1/{SENDAI}/drill-probes"


@pytest.fixture
def admin(app: FastAPI, client: TestClient, db: Database) -> dict[str, str]:
    mount_probes(app)
    tenant(db, SENDAI)
    user(db, SENDAI, "boss", "admin")
    user(db, SENDAI, "clerk", "staff")
    return sign_in(client, SENDAI, "boss")


def test_same_id_returns_the_first_result_and_other_content_is_409(
    client: TestClient, db: Database, admin: dict[str, str]
) -> None:
    probe = {"id": str(uuid.uuid4()), "payload": "drill 041009 #1"}
    first = client.post(PATH, json=probe, headers=admin)
    assert first.status_code == 201, first.text
    assert first.headers["x-yui-epoch"] == "0" and first.headers["x-yui-served-by"] == "test-site"
    body = first.json()
    assert body["site"] == "test-site" and body["tenant"] == SENDAI and body["epoch"] == 0
    again = client.post(PATH, json=probe, headers=admin)
    assert again.status_code == 200 and again.json() == body
    other = client.post(PATH, json={**probe, "payload": "something else"}, headers=admin)
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert probe["id"] in other.json()["detail"]
    read = client.get(f"{PATH}/{probe['id']}", headers=admin)
    assert read.status_code == 200 and read.json() == body
    assert client.get(f"{PATH}/{uuid.uuid4()}", headers=admin).status_code == 404
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        assert len(uow.session.execute(select(DrillProbe)).scalars().all()) == 1
        logged = uow.session.execute(
            select(ChangeLogEntry.table_name).where(ChangeLogEntry.tenant_id == SENDAI)
        ).scalars()
        assert "drill_probes" in set(logged)  # captured, so it replicates like any row


def test_probes_take_the_epoch_of_the_log_head(
    client: TestClient, db: Database, admin: dict[str, str]
) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(LogHead).where(LogHead.tenant_id == SENDAI).values(epoch=42))
    response = client.post(PATH, json={"id": str(uuid.uuid4())}, headers=admin)
    assert response.status_code == 201
    assert response.headers["x-yui-epoch"] == "42" and response.json()["epoch"] == 42


def test_only_admins_write_probes_and_bad_bodies_are_422(
    client: TestClient, admin: dict[str, str]
) -> None:
    probe = {"id": str(uuid.uuid4())}
    assert client.post(PATH, json=probe).status_code == 401
    staff = sign_in(client, SENDAI, "clerk")
    assert client.post(PATH, json=probe, headers=staff).status_code == 403
    assert client.post(PATH, json={"id": "not-a-uuid"}, headers=admin).status_code == 422
    assert client.post(PATH, json={**probe, "payload": "x" * 201}, headers=admin).status_code == 422
    assert client.post(PATH, json={**probe, "extra": 1}, headers=admin).status_code == 422


def test_the_same_id_in_another_tenant_is_another_probe(
    client: TestClient, db: Database, admin: dict[str, str]
) -> None:
    tenant(db, CHIYODA, "千代田区")
    user(db, CHIYODA, "boss", "admin")
    other_admin = sign_in(client, CHIYODA, "boss")
    probe = {"id": str(uuid.uuid4()), "payload": "p"}
    assert client.post(PATH, json=probe, headers=admin).status_code == 201
    other = client.post(f"/api/v1/{CHIYODA}/drill-probes", json=probe, headers=other_admin)
    assert other.status_code == 201 and other.json()["tenant"] == CHIYODA
    # a tenant's admin cannot reach another tenant's probes
    assert client.get(f"{PATH}/{probe['id']}", headers=other_admin).status_code == 404
    copy = read_copy(db, [SENDAI, CHIYODA, "131016"])
    assert set(copy) == {SENDAI, CHIYODA}  # 131016 is not held here
    assert [r.id for r in copy[SENDAI]] == [probe["id"]]
    assert copy[SENDAI][0].site == "test-site" and copy[SENDAI][0].epoch == 0
    assert quarantined_entries(db, [SENDAI]) == {SENDAI: 0}


def test_a_non_primary_neither_writes_nor_confirms_a_replay(tmp_path: Path) -> None:
    db = site_db(tmp_path, "replica")
    fenced = {"on": False}

    def gate(code: str) -> None:
        if fenced["on"]:
            raise NotPrimary(f"replica of {code}")

    app = site_app(tmp_path, "site-b", db, write_gate=gate)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = sign_in(client, SENDAI, "boss")
        probe = {"id": str(uuid.uuid4()), "payload": "p"}
        assert client.post(PATH, json=probe, headers=headers).status_code == 201
        fenced["on"] = True  # deposed: its copy may hold what the new primary never got
        assert client.post(PATH, json=probe, headers=headers).status_code == 421
        new = {"id": str(uuid.uuid4())}
        assert client.post(PATH, json=new, headers=headers).status_code == 421
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        assert len(uow.session.execute(select(DrillProbe)).scalars().all()) == 1
    db.dispose()


def test_a_replay_is_confirmed_only_once_replicated_like_a_first_write(tmp_path: Path) -> None:
    """A first attempt that committed at the primary but timed out before its replicas had
    it (a site cut off) must not be confirmed by the retry: the retry waits like a write."""
    from replication.primary.acks import ReplicationAcks, record
    from yui.errors import Unavailable

    replicas_reachable = True
    waited: list[tuple[str, int]] = []

    async def wait(committed: Sequence[tuple[str, int]]) -> None:
        waited.extend(committed)
        if not replicas_reachable:
            raise Unavailable("replicas unreachable")

    db = site_db(tmp_path, "primary")
    db.on_logged.append(record)
    app = site_app(tmp_path, "primary", db)
    app.add_middleware(ReplicationAcks, wait=wait)
    with TestClient(app) as client:
        admin = sign_in(client, SENDAI, "boss")
        replicated = {"id": str(uuid.uuid4()), "payload": "replicated"}
        assert client.post(PATH, json=replicated, headers=admin).status_code == 201
        replicas_reachable = False
        stranded = {"id": str(uuid.uuid4()), "payload": "committed here only"}
        assert client.post(PATH, json=stranded, headers=admin).status_code == 503
        retry = client.post(PATH, json=stranded, headers=admin)
        assert retry.status_code == 503, retry.text  # not 200: its replicas never got it
        assert retry.headers["content-type"] == "application/problem+json"
        replicas_reachable = True
        assert client.post(PATH, json=stranded, headers=admin).status_code == 200
    head = max(seq for _, seq in waited)
    assert waited[-1] == (SENDAI, head)  # the replay waited for the log up to its head


COUNTER = f"/api/v1/{SENDAI}/drill-counters/c1/increments"


def test_increments_are_applied_once_per_id_and_return_the_new_value(
    client: TestClient, db: Database, admin: dict[str, str]
) -> None:
    from failover.drill.copies import read_counters

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    one = client.post(COUNTER, json={"id": first}, headers=admin)
    assert one.status_code == 201, one.text
    assert one.json()["value"] == 1 and one.headers["x-yui-epoch"] == "0"
    two = client.post(COUNTER, json={"id": second}, headers=admin)
    assert two.status_code == 201 and two.json()["value"] == 2
    again = client.post(COUNTER, json={"id": first}, headers=admin)  # a retry: not applied again
    assert again.status_code == 200 and again.json() == one.json()
    other = client.post(
        f"/api/v1/{SENDAI}/drill-counters/c2/increments", json={"id": first}, headers=admin
    )
    assert other.status_code == 201 and other.json()["value"] == 1  # another counter
    assert (
        client.post(
            f"/api/v1/{SENDAI}/drill-counters/Bad_Name/increments",
            json={"id": first},
            headers=admin,
        ).status_code
        == 422
    )
    assert client.post(COUNTER, json={"id": "x"}, headers=admin).status_code == 422
    staff = sign_in(client, SENDAI, "clerk")
    assert client.post(COUNTER, json={"id": second}, headers=staff).status_code == 403
    counters = read_counters(db, [SENDAI])[SENDAI]
    assert counters.values == {"c1": 2, "c2": 1}
    applied = {c: {i: r.value for i, r in counters.applied(c).items()} for c in ("c1", "c2")}
    assert applied == {"c1": {first: 1, second: 2}, "c2": {first: 1}}
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        logged = set(
            uow.session.execute(
                select(ChangeLogEntry.table_name).where(ChangeLogEntry.tenant_id == SENDAI)
            ).scalars()
        )
    assert {"drill_counters", "drill_counter_increments"} <= logged  # replicated like any row


def test_a_delete_answers_204_then_200_already_absent(
    client: TestClient, db: Database, admin: dict[str, str]
) -> None:
    probe = {"id": str(uuid.uuid4()), "payload": "p"}
    assert client.post(PATH, json=probe, headers=admin).status_code == 201
    gone = client.delete(f"{PATH}/{probe['id']}", headers=admin)
    assert gone.status_code == 204 and gone.headers["x-yui-epoch"] == "0"
    again = client.delete(f"{PATH}/{probe['id']}", headers=admin)
    assert again.status_code == 200
    assert again.json() == {"id": probe["id"], "deleted_now": False}
    assert client.get(f"{PATH}/{probe['id']}", headers=admin).status_code == 404
    assert read_copy(db, [SENDAI])[SENDAI] == []
    staff = sign_in(client, SENDAI, "clerk")
    assert client.delete(f"{PATH}/{probe['id']}", headers=staff).status_code == 403


def test_a_late_copy_of_the_first_write_never_brings_a_deleted_probe_back(
    client: TestClient, db: Database, admin: dict[str, str]
) -> None:
    """The soak's resurrection: a write sent to a frozen site reached the new primary through
    that site's gateway after it thawed, when the client had long since had its 201 elsewhere
    and deleted the probe. An id is applied at most once, so a deleted id stays deleted."""
    probe = {"id": str(uuid.uuid4()), "payload": "p"}
    assert client.post(PATH, json=probe, headers=admin).status_code == 201
    assert client.delete(f"{PATH}/{probe['id']}", headers=admin).status_code == 204
    late = client.post(PATH, json=probe, headers=admin)
    assert late.status_code == 409, late.text
    assert late.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"{PATH}/{probe['id']}", headers=admin).status_code == 404
    assert read_copy(db, [SENDAI])[SENDAI] == []
    again = client.delete(f"{PATH}/{probe['id']}", headers=admin)
    assert again.status_code == 200 and again.json()["deleted_now"] is False


def test_a_non_primary_confirms_no_delete_nor_increment_replay(tmp_path: Path) -> None:
    db = site_db(tmp_path, "replica")
    fenced = {"on": False}

    def gate(code: str) -> None:
        if fenced["on"]:
            raise NotPrimary(f"replica of {code}")

    app = site_app(tmp_path, "site-b", db, write_gate=gate)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = sign_in(client, SENDAI, "boss")
        increment = {"id": str(uuid.uuid4())}
        assert client.post(COUNTER, json=increment, headers=headers).status_code == 201
        fenced["on"] = True
        assert client.post(COUNTER, json=increment, headers=headers).status_code == 421
        assert client.delete(f"{PATH}/{uuid.uuid4()}", headers=headers).status_code == 421
    db.dispose()


def test_concurrent_increments_lose_none(
    client: TestClient, db: Database, admin: dict[str, str]
) -> None:
    """The read-modify-write holds under concurrent requests: 40 increments from 4 threads
    answer 40 distinct values and leave the counter at 40."""
    from concurrent.futures import ThreadPoolExecutor

    from failover.drill.copies import read_counters

    def increment(_: int) -> int:
        response = client.post(COUNTER, json={"id": str(uuid.uuid4())}, headers=admin)
        assert response.status_code == 201, response.text
        return int(response.json()["value"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        values = sorted(pool.map(increment, range(40)))
    assert values == list(range(1, 41))
    counters = read_counters(db, [SENDAI])[SENDAI]
    assert counters.values == {"c1": 40} and len(counters.applied("c1")) == 40
