"""Any site serves any tenant: writes go to the primary, reads may stay on a replica."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import select

from assembly.sandbox.etcd import free_ports
from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from replication.protocol.forwarding import ForwardSignatures
from replication.protocol.signing import SiteKey, TrustStore, generate_key
from tests.conftest import TEST_SECRET
from tests.residents.conftest import HEADER
from tests.support.factories import PASSWORD, SENDAI, same_account, tenant, user
from tests.support.servers import serving
from yui.auth.models import StaffUser
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.http.gateway import Route, forward_signing_input
from yui.settings import load_settings


def _site(tmp_path: Path, name: str) -> Database:
    db = Database(f"sqlite:///{tmp_path / name}.db")
    db.migrate(SCHEMA_HISTORY)
    tenant(db)  # both copies start with the same rows, as replication would leave them
    user(db, SENDAI, "boss", "admin")
    return db


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[tuple[Database, Database, str]]:
    primary_db, replica_db = _site(tmp_path, "primary"), _site(tmp_path, "replica")
    same_account(primary_db, replica_db)
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


def test_a_forwarding_mark_sent_by_a_client_is_ignored(
    sites: tuple[Database, Database, str], replica: Any
) -> None:
    """Before the fix the replica trusted the mark: it served the request itself, so a
    sign-in answered 421 for a known user and 401 for an unknown one (a username probe),
    and a write was refused there instead of reaching the primary."""
    primary_db, replica_db, url = sites
    client = replica(replica_db, url)
    forged = {"X-Yui-Forwarded-By": "site-a"}
    answers = [
        client.post(
            f"/api/v1/{SENDAI}/auth/token",
            json={"username": name, "password": "not the password"},
            headers=forged,
        )
        for name in ("boss", "nobody-here")
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert all(a.headers["x-yui-forwarded-to"] == "site-a" for a in answers)
    assert answers[0].json()["detail"] == answers[1].json()["detail"]

    headers = {**_token(client), **forged}
    new = {"username": "sneaky", "password": "a long enough password", "roles": ["staff"]}
    response = client.post(f"/api/v1/{SENDAI}/users", json=new, headers=headers)
    assert response.status_code == 201 and response.headers["x-yui-served-by"] == "site-a"
    assert "sneaky" in _usernames(primary_db) and "sneaky" not in _usernames(replica_db)


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


# ----------------------------------------------------------------- the gateway's own rules


def _lone_app(tmp_path: Path, site: str, db: Database, **kwargs: Any) -> Any:
    settings = load_settings(
        site=site,
        data_dir=tmp_path,
        token_secret=TEST_SECRET,
        log_json=False,
        max_body_bytes=kwargs.pop("max_body_bytes", 1_048_576),
    )
    return create_app(settings, db, migrate=False, **kwargs)


def _forwarding_to(primary_url: str | None, primary: str = "site-a") -> Any:
    def lookup(code: str) -> Route | None:
        return Route(primary=primary, primary_url=primary_url, has_local_copy=False)

    return lookup


def test_a_path_that_is_not_normalised_is_refused_before_routing(
    sites: tuple[Database, Database, str], tmp_path: Path
) -> None:
    """`/api/v1/271004/../041009/…` was routed by 271004's placement and forwarded; the
    forwarding client normalised it and the other site served 041009 (found by review)."""
    import http.client

    _, replica_db, url = sites
    app = _lone_app(tmp_path, "site-b", replica_db, route_lookup=_forwarding_to(url))
    with serving(app) as replica_url:
        token = httpx.post(
            f"{replica_url}/api/v1/{SENDAI}/auth/token",
            json={"username": "boss", "password": PASSWORD},
        ).json()["access_token"]
        port = int(replica_url.rsplit(":", 1)[1])
        for path in (
            f"/api/v1/271004/../{SENDAI}/users",
            f"/api/v1/271004%2F..%2F{SENDAI}/users",
            f"/api/v1/{SENDAI}/./users",
            f"/api/v1/{SENDAI}/users/%2e%2e/users",
        ):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            answer = connection.getresponse()
            body = json.loads(answer.read())
            connection.close()
            assert answer.status == 400, (path, answer.status, body)
            assert answer.getheader("content-type") == "application/problem+json"
            assert body["type"].endswith("/path-not-normalised")


def test_a_chunked_body_over_the_limit_at_a_replica_reaches_nothing(
    tmp_path: Path,
) -> None:
    """The body limit ends an over-long body with a disconnect; the gateway forwarded what
    it had received so far, so a 413 at a replica site was partly written at the primary
    (a chunked CSV import: ~7,000 rows). A forwarded body is whole or not sent."""
    primary_db, replica_db = _site(tmp_path, "primary"), _site(tmp_path, "replica")
    primary_app = _lone_app(tmp_path, "site-a", primary_db)
    received: list[bytes] = []

    @primary_app.post("/api/v1/{tenant}/test-body")
    async def record(tenant: str, request: Request) -> dict[str, int]:
        received.append(await request.body())
        return {"length": len(received[-1])}

    def chunks(count: int, pause: float = 0.0) -> Iterator[bytes]:
        for index in range(count):
            time.sleep(pause)  # so that the server reads them one by one, as over a network
            yield f"{index:04d},".encode() + b"x" * 995

    with serving(primary_app) as primary_url:
        replica_app = _lone_app(
            tmp_path,
            "site-b",
            replica_db,
            route_lookup=_forwarding_to(primary_url),
            max_body_bytes=4096,
        )
        with serving(replica_app) as replica_url:
            # each app's first request builds its route tables: seconds on a loaded machine
            whole = httpx.post(
                f"{replica_url}/api/v1/{SENDAI}/test-body", content=chunks(4), timeout=30
            )
            assert whole.status_code == 200 and whole.headers["x-yui-forwarded-to"] == "site-a"
            assert received == [b"".join(chunks(4))]

            too_long = httpx.post(
                f"{replica_url}/api/v1/{SENDAI}/test-body", content=chunks(12, 0.05), timeout=30
            )
            assert too_long.status_code == 413
            assert too_long.headers["content-type"] == "application/problem+json"
            time.sleep(0.5)  # a forward, had one started, would have arrived by now
            assert received == [b"".join(chunks(4))]
    primary_db.dispose()
    replica_db.dispose()


def test_a_forwarded_answer_has_one_date_and_one_server_header(
    sites: tuple[Database, Database, str], tmp_path: Path
) -> None:
    _, replica_db, url = sites
    app = _lone_app(tmp_path, "site-b", replica_db, route_lookup=_forwarding_to(url))
    with serving(app) as replica_url:
        answer = httpx.post(
            f"{replica_url}/api/v1/{SENDAI}/auth/token",
            json={"username": "boss", "password": PASSWORD},
        )
    assert answer.status_code == 200 and answer.headers["x-yui-forwarded-to"] == "site-a"
    for name in ("date", "server", "x-yui-site", "x-request-id", "x-yui-served-by"):
        assert len(answer.headers.get_list(name)) == 1, (name, answer.headers.get_list(name))
    assert (
        answer.headers["x-yui-site"] == "site-b" and answer.headers["x-yui-served-by"] == "site-a"
    )


def test_only_a_confirmed_primary_labels_its_answers_the_primary_s(
    tmp_path: Path,
) -> None:
    db = _site(tmp_path, "primary")
    confirmed = {"now": True}

    def lookup(code: str) -> Route:
        return Route(
            primary="site-a",
            primary_url=None,
            has_local_copy=True,
            primary_confirmed=confirmed["now"],
        )

    with TestClient(_lone_app(tmp_path, "site-a", db, route_lookup=lookup)) as client:
        signed_in = client.post(
            f"/api/v1/{SENDAI}/auth/token", json={"username": "boss", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        read = client.get(f"/api/v1/{SENDAI}/users", headers=headers)
        assert read.status_code == 200 and read.headers["x-yui-copy"] == "primary"

        confirmed["now"] = False  # lease lapsed, or the view is not current
        refused = client.get(f"/api/v1/{SENDAI}/users", headers=headers)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["type"].endswith("/primary-unconfirmed")
        assert "x-yui-copy" not in refused.headers
    db.dispose()


def test_a_request_served_through_the_gateway_is_logged_with_its_route(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The access log and the metrics name a request's route template. Every request of a
    site with a cluster passes the gateway (and, behind a load balancer, the trusted-proxy
    step): they must not hide the route the router matched from the access log, which
    then matched the path against every route again (0.1-0.6 ms of CPU a request) and
    named it "unmatched"."""
    db = _site(tmp_path, "primary")

    def lookup(code: str) -> Route:
        return Route(
            primary="site-a", primary_url=None, has_local_copy=True, primary_confirmed=True
        )

    def logged_route(app: Any) -> str:
        caplog.clear()
        with TestClient(app) as client, caplog.at_level("INFO", logger="yui.access"):
            response = client.get(f"/api/v1/{SENDAI}/users")
        assert response.status_code == 401  # routed and answered by the endpoint's auth
        (record,) = [r for r in caplog.records if r.name == "yui.access"]
        return str(record.__dict__["route"])

    without_gateway = logged_route(_lone_app(tmp_path, "site-a", db))
    through_gateway = logged_route(_lone_app(tmp_path, "site-a", db, route_lookup=lookup))
    assert without_gateway != "unmatched"
    assert through_gateway == without_gateway
    db.dispose()


# ----------------------------------------------------------------- signed forwarding


def _signed(
    key: SiteKey,
    to_site: str,
    path: str,
    body: bytes,
    *,
    at: float | None = None,
    client: str = "198.51.100.7",
    signed_body: bytes | None = None,
) -> dict[str, str]:
    timestamp = str(int(at if at is not None else time.time()))
    data = forward_signing_input(
        "POST",
        path,
        key.site,
        to_site,
        timestamp,
        client,
        body if signed_body is None else signed_body,
    )
    return {
        "X-Yui-Forwarded-By": key.site,
        "X-Yui-Forwarded-At": timestamp,
        "X-Yui-Forwarded-For": client,
        "X-Yui-Forwarded-Signature": key.sign(data),
    }


def test_a_forward_is_honoured_only_when_a_trusted_site_signed_it(tmp_path: Path) -> None:
    """site-a's view names site-c as the primary. A request that site-b forwarded here
    (signed) is answered 503 rather than forwarded again (never bounced); any other mark
    — unsigned, an unknown key, stale, for another site, another body — counts for
    nothing: the request is forwarded as a client's (here: site-c is unreachable)."""
    db = _site(tmp_path, "site-a")
    key_a, key_b = SiteKey("site-a", generate_key()), SiteKey("site-b", generate_key())
    stranger = SiteKey("site-b", generate_key())
    trust = TrustStore.from_mapping(
        {"site-a": key_a.public_key_b64, "site-b": key_b.public_key_b64}
    )
    (dead_port,) = free_ports(1)
    app = _lone_app(
        tmp_path,
        "site-a",
        db,
        route_lookup=_forwarding_to(f"http://127.0.0.1:{dead_port}", primary="site-c"),
        signatures=ForwardSignatures(key_a, trust),
    )
    path = f"/api/v1/{SENDAI}/auth/token"
    body = json.dumps({"username": "boss", "password": PASSWORD}).encode()
    json_type = {"Content-Type": "application/json"}
    with TestClient(app) as client:

        def slug(headers: dict[str, str]) -> str:
            answer = client.post(path, content=body, headers={**json_type, **headers})
            assert answer.status_code == 503, answer.text
            return str(answer.json()["type"]).rsplit("/", 1)[1]

        assert slug(_signed(key_b, "site-a", path, body)) == "not-primary-here"
        unreachable = "503"  # forwarded to site-c as a client's request
        assert slug({"X-Yui-Forwarded-By": "site-b"}) == unreachable
        assert slug(_signed(stranger, "site-a", path, body)) == unreachable
        assert slug(_signed(key_b, "site-a", path, body, at=time.time() - 60)) == unreachable
        assert slug(_signed(key_b, "site-c", path, body)) == unreachable
        assert slug(_signed(key_b, "site-a", path, body, signed_body=b"{}")) == unreachable
    db.dispose()


def test_the_app_never_sees_forwarding_marks(tmp_path: Path) -> None:
    """Marks are removed before the app; a trusted forward tells the client's address."""
    db = _site(tmp_path, "site-a")
    key_a, key_b = SiteKey("site-a", generate_key()), SiteKey("site-b", generate_key())
    trust = TrustStore.from_mapping({"site-b": key_b.public_key_b64})

    def lookup(code: str) -> Route:
        return Route(
            primary="site-a", primary_url=None, has_local_copy=True, primary_confirmed=True
        )

    app = _lone_app(
        tmp_path, "site-a", db, route_lookup=lookup, signatures=ForwardSignatures(key_a, trust)
    )

    @app.post("/api/v1/{tenant}/test-headers")
    async def echo(tenant: str, request: Request) -> dict[str, Any]:
        return {
            "marks": sorted(k for k in request.headers if k.startswith("x-yui-forwarded")),
            "client": request.client.host if request.client else None,
        }

    path = f"/api/v1/{SENDAI}/test-headers"
    with TestClient(app) as client:
        trusted = client.post(path, content=b"", headers=_signed(key_b, "site-a", path, b""))
        assert trusted.json() == {"marks": [], "client": "198.51.100.7"}
        forged = client.post(
            path,
            content=b"",
            headers={"X-Yui-Forwarded-By": "site-b", "X-Yui-Forwarded-For": "10.0.0.1"},
        )
        assert forged.json() == {"marks": [], "client": "testclient"}
    db.dispose()


def test_a_site_that_does_not_know_the_placement_yet_answers_503(tmp_path: Path) -> None:
    db = _site(tmp_path, "replica")

    def lookup(code: str) -> Route:  # etcd not reached since start; a copy is here
        return Route(primary=None, primary_url=None, has_local_copy=False)

    with TestClient(_lone_app(tmp_path, "site-b", db, route_lookup=lookup)) as client:
        answer = client.post(
            f"/api/v1/{SENDAI}/auth/token", json={"username": "boss", "password": PASSWORD}
        )
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert answer.json()["type"].endswith("/placement-unknown")
    db.dispose()


def test_a_chunked_csv_over_the_limit_at_a_replica_imports_nothing(tmp_path: Path) -> None:
    """The review's case: a chunked resident CSV sent to a replica site's import answered
    413 and its first rows were imported at the primary."""
    from residents.registry.models import Resident

    primary_db, replica_db = _site(tmp_path, "primary"), _site(tmp_path, "replica")
    user(primary_db, SENDAI, "clerk", "staff")
    rows = [
        f"{200000 + i},H{i},佐藤　花子,サトウ　ハナコ,1980-05-06,女,世帯主,一番町一丁目,2-3,,,0"
        for i in range(120)
    ]

    def csv_chunks() -> Iterator[bytes]:
        yield (HEADER + "\r\n").encode()
        for start in range(0, len(rows), 10):
            time.sleep(0.05)  # read by the server chunk by chunk, as over a network
            yield ("\r\n".join(rows[start : start + 10]) + "\r\n").encode()

    def residents(db: Database) -> int:
        with db.unit_of_work(SENDAI, read_only=True) as uow:
            return len(uow.session.execute(select(Resident.id)).scalars().all())

    with serving(_lone_app(tmp_path, "site-a", primary_db)) as primary_url:
        replica_app = _lone_app(
            tmp_path,
            "site-b",
            replica_db,
            route_lookup=_forwarding_to(primary_url),
            max_body_bytes=4096,
        )
        with serving(replica_app) as replica_url:
            token = httpx.post(
                f"{primary_url}/api/v1/{SENDAI}/auth/token",
                json={"username": "clerk", "password": PASSWORD},
            ).json()["access_token"]
            answer = httpx.post(
                f"{replica_url}/api/v1/{SENDAI}/imports/residents",
                params={"skip_invalid": "true"},
                content=csv_chunks(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
                timeout=30,
            )
            assert answer.status_code == 413, answer.text
            time.sleep(0.5)
    assert residents(primary_db) == 0 and residents(replica_db) == 0
    primary_db.dispose()
    replica_db.dispose()


def test_a_forwarded_write_the_primary_may_have_done_is_not_answered_retry(
    tmp_path: Path,
) -> None:
    """A forward whose answer did not come in time (the primary still working: a big CSV
    import, a slow replica) was answered 503 "the primary is unreachable; retry shortly"
    while the primary carried the write out: a client told to retry did it twice. Only a
    request that surely never reached the primary (no connection) is a 503 to retry; a
    write whose outcome is unknown is a 504 that says so. A read may be retried: 503."""
    from yui.http.gateway import Gateway

    done: list[str] = []
    primary = FastAPI()

    @primary.api_route("/api/v1/{tenant}/slow", methods=["GET", "POST"])
    def slow(tenant: str, request: Request) -> dict[str, str]:
        time.sleep(1.0)
        done.append(request.method)
        return {"done": "yes"}

    with serving(primary) as primary_url:
        # no local copy here: the gateway forwards both, the app behind it sees neither
        replica = Gateway(FastAPI(), site="site-b", lookup=_forwarding_to(primary_url), timeout=0.3)
        with serving(replica) as replica_url:  # type: ignore[arg-type]
            write = httpx.post(f"{replica_url}/api/v1/{SENDAI}/slow", json={}, timeout=30)
            read = httpx.get(f"{replica_url}/api/v1/{SENDAI}/slow", timeout=30)
            time.sleep(1.2)  # both have finished at the primary by now
    assert done == ["POST", "GET"]  # the primary did the write
    assert write.status_code == 504, write.text
    assert write.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in write.headers
    assert write.json()["type"].endswith("/outcome-unknown")
    assert read.status_code == 503 and read.headers["retry-after"] == "1"
