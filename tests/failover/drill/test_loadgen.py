"""The load generator against real loopback sites: every site, retry elsewhere, logged acks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from assembly.sandbox.etcd import free_ports
from failover.drill.checker import check
from failover.drill.copies import read_copy
from failover.drill.loadgen import (
    AuthHeaders,
    LoadConfig,
    SiteEndpoint,
    read_attempts,
    run_load,
)
from tests.support.drill_sites import site_app, site_db
from tests.support.factories import PASSWORD, SENDAI, same_account
from tests.support.servers import serving
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.http.gateway import Route


def _token(url: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/api/v1/{SENDAI}/auth/token", json={"username": "boss", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _auth(headers: Mapping[str, str]) -> AuthHeaders:
    async def auth(_tenant: str) -> Mapping[str, str]:
        return headers

    return auth


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[Database, Database, str, str]]:
    """site-a is the primary; site-b holds a copy and forwards writes to site-a."""
    db_a, db_b = site_db(tmp_path, "a"), site_db(tmp_path, "b")
    with serving(site_app(tmp_path, "site-a", db_a)) as url_a:

        def lookup(code: str) -> Route:
            return Route(primary="site-a", primary_url=url_a, has_local_copy=True)

        def gate(code: str) -> None:
            raise NotPrimary(f"site-b is a replica of {code}")

        app_b = site_app(tmp_path, "site-b", db_b, route_lookup=lookup, write_gate=gate)
        with serving(app_b) as url_b:
            yield db_a, db_b, url_a, url_b
    db_a.dispose()
    db_b.dispose()


def test_writes_go_through_every_site_and_retry_elsewhere_when_one_is_down(
    tmp_path: Path, two_sites: tuple[Database, Database, str, str]
) -> None:
    db_a, _, url_a, url_b = two_sites
    (dead,) = free_ports(1)
    config = LoadConfig(
        sites=(
            SiteEndpoint("site-a", url_a),
            SiteEndpoint("site-b", url_b),
            SiteEndpoint("site-c", f"http://127.0.0.1:{dead}"),  # down
        ),
        tenants=(SENDAI,),
        rate=60,
        duration=1.0,
        auth=_auth(_token(url_a)),
        request_timeout=2.0,
    )
    log = tmp_path / "drill" / "attempts.jsonl"
    summary = asyncio.run(run_load(config, log))
    assert summary.writes == 60
    assert summary.acknowledged == 60 and summary.unacknowledged == 0 and summary.rejected == 0
    attempts = read_attempts(log)
    assert len(attempts) == summary.attempts
    assert all(json.loads(line)["tenant"] == SENDAI for line in log.read_text().splitlines())
    acks = [a for a in attempts if a.acknowledged]
    assert {a.site for a in acks} == {"site-a", "site-b"}  # written through every live site
    assert {a.served_by for a in acks} == {"site-a"}  # …and always committed at the primary
    assert all(a.epoch == 0 and a.status in (200, 201) for a in acks)
    # 200: the same id again, after an attempt whose answer did not come in time (a loaded
    # machine) though the write was committed: the first answer, nothing written twice
    for again in (a for a in acks if a.status == 200):
        assert any(b.id == again.id and b.status is None and b.t < again.t for b in attempts), again
    assert len({a.id for a in acks}) == 60
    down = [a for a in attempts if a.site == "site-c"]
    assert down and all(a.status is None and a.error and not a.final for a in down)
    for miss in down:  # the same write, with the same id, was retried at the next site
        after = sorted((a for a in attempts if a.id == miss.id and a.t > miss.t), key=lambda a: a.t)
        assert after[0].attempt == miss.attempt + 1 and after[0].site == "site-a"
        # …and acknowledged by a later attempt (the first may time out on a loaded machine)
        assert any(a.acknowledged for a in after)
    result = check(attempts, {"site-a": read_copy(db_a, [SENDAI])}, primaries={SENDAI: "site-a"})
    assert result.ok and result.acknowledged_writes == 60


def test_two_sites_accepting_one_tenant_is_caught_as_split_brain_and_loss(
    tmp_path: Path,
) -> None:
    db_a, db_b = site_db(tmp_path, "a"), site_db(tmp_path, "b")
    same_account(db_a, db_b)  # one account, as if b were a (wrongly writable) copy of a
    with (
        serving(site_app(tmp_path, "site-a", db_a)) as url_a,
        serving(site_app(tmp_path, "site-b", db_b)) as url_b,  # wrongly a primary too
    ):
        config = LoadConfig(
            sites=(SiteEndpoint("site-a", url_a), SiteEndpoint("site-b", url_b)),
            tenants=(SENDAI,),
            rate=40,
            duration=0.5,
            auth=_auth(_token(url_a)),
        )
        log = tmp_path / "attempts.jsonl"
        summary = asyncio.run(run_load(config, log))
    assert summary.acknowledged == 20
    copies = {"site-a": read_copy(db_a, [SENDAI]), "site-b": read_copy(db_b, [SENDAI])}
    result = check(read_attempts(log), copies, primaries={SENDAI: "site-a"})
    assert len(result.split_brain) == 1 and result.split_brain[0].sites == ("site-a", "site-b")
    assert len(result.lost) == 10  # what site-b acknowledged is not at the primary
    db_a.dispose()
    db_b.dispose()


def test_a_write_nobody_acknowledges_is_given_up_at_its_deadline(tmp_path: Path) -> None:
    (dead,) = free_ports(1)
    config = LoadConfig(
        sites=(SiteEndpoint("gone", f"http://127.0.0.1:{dead}"),),
        tenants=(SENDAI,),
        rate=10,
        duration=0.2,
        drain_seconds=0.3,
        retry_backoff=0.05,
    )
    summary = asyncio.run(run_load(config, tmp_path / "log.jsonl"))
    assert summary.writes == 2 and summary.unacknowledged == 2 and summary.acknowledged == 0
    attempts = read_attempts(tmp_path / "log.jsonl")
    assert len({a.id for a in attempts}) == 2 and max(a.attempt for a in attempts) > 1


def test_the_load_generator_refuses_anything_but_loopback_and_bad_bounds() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SiteEndpoint("x", "http://10.1.2.3:8401")
    with pytest.raises(ValueError, match="loopback"):
        SiteEndpoint("x", "https://example.org")
    assert SiteEndpoint("x", "http://localhost:1").url and SiteEndpoint("y", "http://[::1]:1").url
    site = (SiteEndpoint("x", "http://127.0.0.1:1"),)
    with pytest.raises(ValueError, match="rate"):
        LoadConfig(site, ("041009",), rate=0)
    with pytest.raises(ValueError, match="duration"):
        LoadConfig(site, ("041009",), duration=7200)
    with pytest.raises(ValueError, match="tenant"):
        LoadConfig(site, ("041009",), path_template="/api/v1/fixed")
