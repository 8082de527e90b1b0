"""Sign-in limits: the client's address is believed only from configured proxies, the
counts are shared by a site's processes through its Redis, and memory stays bounded."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from assembly.cli.main import uvicorn_options
from assembly.site import create_app
from tests.conftest import TEST_SECRET, MigratedSchemas
from tests.support.factories import PASSWORD, SENDAI, tenant, user
from tests.support.servers import redis_server
from yui.auth.ratelimit import FailureLimiter
from yui.db.database import Database
from yui.http.proxies import TrustedProxies, client_from, parse_networks
from yui.settings import Settings, load_settings

TOKEN_URL = f"/api/v1/{SENDAI}/auth/token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _served(app: FastAPI, settings: Settings) -> Iterator[str]:
    """The app behind a real uvicorn with the options `yui run` uses."""
    port = _free_port()
    config = uvicorn.Config(app, **{**uvicorn_options(settings), "host": "127.0.0.1", "port": port})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _guess(base: str, username: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    body = {"username": username, "password": "a wrong guess, long enough"}
    return httpx.post(base + TOKEN_URL, json=body, headers=headers, timeout=30)


def test_a_rotated_x_forwarded_for_from_an_untrusted_peer_changes_nothing(
    settings: Settings, db: Database
) -> None:
    """uvicorn trusted X-Forwarded-For from loopback: 30 sprayed guesses, no 429."""
    tenant(db)
    user(db, SENDAI, "sato", "staff")
    with _served(create_app(settings, db, migrate=False), settings) as base:
        statuses = [
            _guess(base, f"user{n}", forwarded_for=f"203.0.113.{n}").status_code
            for n in range(settings.login_max_failures + 1)
        ]
        assert statuses[-1] == 429, statuses
        assert _guess(base, "sato").status_code == 429  # the peer itself is blocked
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        from sqlalchemy import select

        from yui.audit.models import AuditEntry

        clients = {
            entry.detail.get("client")
            for entry in uow.session.execute(select(AuditEntry)).scalars()
            if entry.action == "auth.login_failed"
        }
    assert clients <= {"127.0.0.1"}, clients


def test_a_trusted_proxy_is_believed_about_its_clients(settings: Settings, db: Database) -> None:
    tenant(db)
    behind_proxy = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    with _served(create_app(behind_proxy, db, migrate=False), behind_proxy) as base:
        for _ in range(settings.login_max_failures):
            assert _guess(base, "x", forwarded_for="198.51.100.7").status_code == 401
        assert _guess(base, "x", forwarded_for="198.51.100.7").status_code == 429
        # Another client behind the same proxy is not locked out by the first one's guesses.
        assert _guess(base, "x", forwarded_for="198.51.100.8").status_code == 401
        # What the client wrote left of the proxy's entry is not believed.
        spoofed = "198.51.100.99, 198.51.100.7"
        assert _guess(base, "x", forwarded_for=spoofed).status_code == 429


def test_rotating_ipv6_addresses_of_one_network_is_one_client(
    tmp_path: Path, migrated_schemas: MigratedSchemas
) -> None:
    """An IPv6 client holds a whole /64 (2^64 addresses): counted per address, each guess
    could come from a new one. The client's count is kept per /64 network. (One database
    is enough: nothing here is stored.)"""
    url = migrated_schemas.sqlite_copy(tmp_path / "site.db")
    db = Database(url)
    tenant(db)
    settings = load_settings(
        site="test-site",
        data_dir=tmp_path,
        database_url=url,
        token_secret=TEST_SECRET,
        trusted_proxies="127.0.0.1",
        log_json=False,
    )
    with _served(create_app(settings, db, migrate=False), settings) as base:
        statuses = [
            _guess(base, f"user{n}", forwarded_for=f"2001:db8:7:7::{n + 1:x}").status_code
            for n in range(settings.login_max_failures + 1)
        ]
        assert statuses[-1] == 429, statuses
        # another network is another client
        assert _guess(base, "x", forwarded_for="2001:db8:7:8::1").status_code == 401
    db.dispose()


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("127.0.0.1", "203.0.113.5", "127.0.0.1"),  # not a trusted proxy: the peer
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "203.0.113.9, 203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "203.0.113.5, 10.0.0.3", "203.0.113.5"),  # two trusted hops
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_client_from_reads_forwarded_for_from_the_right(
    peer: str, header: str, expected: str
) -> None:
    assert client_from(peer, header, parse_networks("10.0.0.0/8")) == expected


def test_the_proxy_step_passes_on_the_request_s_own_scope() -> None:
    """What the router records in the scope (the matched route) must reach the access log,
    which runs outside this step: a copy hid it, and the log matched every route again."""
    seen: dict[str, object] = {}

    async def app(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen["client"] = scope["client"]
        scope["route"] = "matched"

    async def nothing(*_args: object) -> Message:
        return {}

    scope: Scope = {
        "type": "http",
        "client": ("10.0.0.2", 50000),
        "headers": [(b"x-forwarded-for", b"203.0.113.5")],
    }
    asyncio.run(TrustedProxies(app, parse_networks("10.0.0.0/8"))(scope, nothing, nothing))
    assert seen["client"] == ("203.0.113.5", 0)
    assert scope["route"] == "matched"


def test_limits_are_shared_by_the_processes_of_a_site_through_its_redis(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    tenant(db)
    user(db, SENDAI, "sato", "staff")
    with redis_server() as redis_url:
        site = load_settings(
            site="test-site",
            data_dir=tmp_path,
            database_url=database_url,
            token_secret=TEST_SECRET,
            redis_url=redis_url,
            log_json=False,
        )
        first = TestClient(create_app(site, db, migrate=False))
        second = TestClient(create_app(site, db, migrate=False))
        wrong = {"username": "sato", "password": "a wrong guess, long enough"}
        for n in range(site.login_max_failures):
            client = first if n % 2 else second
            assert client.post(TOKEN_URL, json=wrong).status_code == 401
        for client in (first, second):
            blocked = client.post(TOKEN_URL, json={"username": "sato", "password": PASSWORD})
            assert blocked.status_code == 429, blocked.text


def test_guessing_names_keeps_memory_bounded(settings: Settings, db: Database) -> None:
    """A key per guessed name would grow without bound: only existing accounts are counted
    per account (and each key holds at most the limit's number of failures)."""
    tenant(db)
    roomy = settings.model_copy(update={"login_max_failures": 30})
    app = create_app(roomy, db, migrate=False)
    with TestClient(app) as client:
        for n in range(20):  # a key per name would make 20 keys, 21 with the client's
            body = {"username": f"nobody{n}", "password": "a wrong guess, long enough"}
            assert client.post(TOKEN_URL, json=body).status_code == 401
    limiter: FailureLimiter = app.state.yui.limiter
    keys = list(limiter.storage.events)  # type: ignore[attr-defined]
    assert len(keys) == 1, keys[:5]  # the one client's


def test_an_unreachable_redis_is_a_503_not_a_500(settings: Settings, db: Database) -> None:
    tenant(db)
    gone = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{_free_port()}/0"})
    with TestClient(create_app(gone, db, migrate=False)) as client:
        body = {"username": "sato", "password": PASSWORD}
        response = client.post(TOKEN_URL, json=body)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
