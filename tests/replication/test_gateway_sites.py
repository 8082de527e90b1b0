"""Reads across two real site nodes (uvicorn, real etcd, replication signed with the sites'
keys), wired as `yui serve` wires them: a replica's read states its lag, a client cannot
fake a forward, and a primary cut off from etcd and its replica stops labelling reads the
primary's (issue 11 hole 4)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from assembly.cluster import ClusterLink, EtcdPlacements
from assembly.sandbox.etcd import LocalEtcdCluster, free_ports
from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from failover.coordination import connect_etcd
from failover.placement.policy import Placement
from replication.node import ReplicationNode
from replication.protocol.signing import generate_site_keys
from replication.setup import node_from_settings, topology_peers
from tests.conftest import TEST_SECRET
from tests.failover.coordination.conftest import require_etcd
from tests.support.factories import PASSWORD, SENDAI, tenant, user
from tests.support.servers import serving
from yui.auth import tokens
from yui.db.database import Database
from yui.settings import Settings, load_settings

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(180)]

#: sak-c is in the topology but never started: it keeps failsafe mode honest
SITES = (("aws-a", "kanto"), ("gcp-b", "kansai"), ("sak-c", "hokkaido"))


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[LocalEtcdCluster]:
    cluster = LocalEtcdCluster(tmp_path / "etcd", size=1, binary=require_etcd())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _settings(tmp_path: Path, etcd: LocalEtcdCluster, ports: dict[str, int]) -> dict[str, Settings]:
    topology = tmp_path / "topology.toml"
    topology.write_text(
        "".join(
            f'[[site]]\nname = "{name}"\nprovider = "{name[:3]}"\nregion = "r"\n'
            f'hazard_zones = ["{zone}"]\nlatitude = 35.0\nlongitude = 139.0\n'
            f'url = "http://127.0.0.1:{ports[name]}"\n\n'
            for name, zone in SITES
        )
    )
    keys = generate_site_keys(tmp_path / "keys", [name for name, _ in SITES])
    # plain HTTP between sites on loopback, where the settings ask for it to be allowed
    plain = (
        {"allow_plain_http_peers": True}
        if "allow_plain_http_peers" in Settings.model_fields
        else {}
    )
    return {
        name: load_settings(
            site=name,
            topology_file=topology,
            data_dir=tmp_path,
            etcd_endpoints=",".join(etcd.endpoints),
            replication_trust_file=tmp_path / "keys" / "trusted-sites.toml",
            replication_key_file=keys[name],
            token_secret=TEST_SECRET,
            log_json=False,
            lease_ttl_seconds=2,
            keepalive_interval_seconds=0.5,
            retry_timeout_seconds=0.5,
            **plain,
        )
        for name, _ in SITES[:2]
    }


def _node(settings: Settings, db: Database) -> tuple[FastAPI, ReplicationNode]:
    """A site node as assembly.site.build_node makes it, minus the failover controller."""
    link = ClusterLink(settings)
    replication = node_from_settings(settings, db, EtcdPlacements(link), topology_peers(settings))
    assert replication is not None
    link.view.subscribe(lambda _event: replication.placements_changed())
    app = create_app(settings, db, migrate=False, cluster=link, replication=replication)
    return app, replication


def _until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_reads_at_a_replica_site_and_at_a_primary_cut_off(
    tmp_path: Path, etcd: LocalEtcdCluster
) -> None:
    ports = dict(zip([name for name, _ in SITES], free_ports(3), strict=True))
    settings = _settings(tmp_path, etcd, ports)
    dbs = {name: Database(f"sqlite:///{tmp_path / name}.db") for name in settings}
    for db in dbs.values():
        db.migrate(SCHEMA_HISTORY)

    async def place() -> None:
        coordination = connect_etcd(etcd.endpoints)
        try:
            await coordination.put_placement_if(
                SENDAI, Placement(SENDAI, "aws-a", ("gcp-b",), ("gcp-b",), mode="async"), 0
            )
        finally:
            await coordination.close()

    asyncio.run(place())
    apps = {name: _node(settings[name], dbs[name]) for name in settings}
    nodes = {name: node for name, (_, node) in apps.items()}
    with ExitStack() as a_site, ExitStack() as b_site:
        urls = {
            "aws-a": a_site.enter_context(serving(apps["aws-a"][0], ports["aws-a"])),
            "gcp-b": b_site.enter_context(serving(apps["gcp-b"][0], ports["gcp-b"])),
        }
        _until(lambda: SENDAI in nodes["aws-a"].primaries, "aws-a to take the tenant")
        tenant(dbs["aws-a"])
        user(dbs["aws-a"], SENDAI, "boss", "admin")
        user(dbs["aws-a"], SENDAI, "leaver", "staff")
        a_api, b_api = (f"{urls[n]}/api/v1/{SENDAI}" for n in ("aws-a", "gcp-b"))

        # A sign-in at the replica site is an audited write: forwarded, signed, honoured.
        signed_in = _until(
            lambda: (
                (
                    answer := httpx.post(
                        f"{b_api}/auth/token",
                        json={"username": "boss", "password": PASSWORD},
                        timeout=30.0,  # argon2 and the forward: seconds on a loaded machine
                    )
                ).status_code
                == 200
                and answer
            ),
            "a sign-in through gcp-b",
        )
        assert signed_in.headers["x-yui-forwarded-to"] == "aws-a"
        staff = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}

        # The replica serves a read itself once its copy is current, and says how current.
        read = _until(
            lambda: (
                (answer := httpx.get(f"{b_api}/users", headers=staff)).headers.get("x-yui-copy")
                == "replica"
                and answer
            ),
            "a read served by gcp-b's copy",
        )
        assert read.status_code == 200 and read.headers["x-yui-served-by"] == "gcp-b"
        assert int(read.headers["x-yui-replica-lag-entries"]) >= 0
        assert 0.0 <= float(read.headers["x-yui-replica-lag-seconds"]) < 60.0
        at_primary = httpx.get(f"{a_api}/users", headers=staff)
        assert at_primary.status_code == 200 and at_primary.headers["x-yui-copy"] == "primary"

        # Each site bounds a token by its own lifetime from the issue time, whatever its exp
        # says (issue 12: a 900 s token was seen accepted for ~25 minutes): the replica's own
        # read and the write it forwards to the primary both refuse one issued too long ago.
        claims = tokens.read(signed_in.json()["access_token"], TEST_SECRET.encode())
        ttl = settings["aws-a"].token_ttl_seconds
        assert claims.expires_at - claims.issued_at == ttl == settings["gcp-b"].token_ttl_seconds
        stretched = replace(
            claims, issued_at=claims.issued_at - ttl - 120, expires_at=claims.expires_at + 3600
        )
        stale = {"Authorization": f"Bearer {tokens.issue(stretched, TEST_SECRET.encode())}"}
        newcomer = {"username": "newcomer", "password": PASSWORD, "roles": ["staff"]}
        for api in (b_api, a_api):
            assert httpx.get(f"{api}/users", headers=stale).status_code == 401, api
            refused = httpx.post(f"{api}/users", json=newcomer, headers=stale, timeout=30.0)
            assert refused.status_code == 401, (api, refused.text)
        assert "newcomer" not in {
            u["username"] for u in httpx.get(f"{a_api}/users", headers=staff).json()
        }

        # Signing out at the replica site (a write: forwarded) ends the token at every site,
        # the replica's own reads included, within the account check's cache plus the
        # replica's lag (issue 12 item 6: the generation replicates with the tenant's rows).
        leaving = httpx.post(
            f"{b_api}/auth/token", json={"username": "leaver", "password": PASSWORD}, timeout=30.0
        )
        assert leaving.status_code == 200, leaving.text
        leaver = {"Authorization": f"Bearer {leaving.json()['access_token']}"}
        _until(
            lambda: (
                (answer := httpx.get(f"{b_api}/auth/me", headers=leaver)).status_code == 200
                and answer.headers.get("x-yui-copy") == "replica"
            ),
            "gcp-b's copy to know the account",
        )
        signed_out = httpx.post(f"{b_api}/auth/sign-out", headers=leaver, timeout=30.0)
        assert signed_out.status_code == 204 and signed_out.headers["x-yui-forwarded-to"] == "aws-a"
        for api in (a_api, b_api):
            ended = _until(
                lambda api=api: (
                    (answer := httpx.get(f"{api}/auth/me", headers=leaver)).status_code == 401
                    and answer
                ),
                f"{api} to refuse the signed-out token",
                within=settings["gcp-b"].token_account_check_seconds + 10.0,
            )
            assert "revoked" in ended.json()["detail"], ended.text
        assert ended.headers["x-yui-copy"] == "replica"  # gcp-b's own read refused it

        # A client's own forwarding mark does not skip forwarding (no username probe).
        probes = [
            httpx.post(
                f"{b_api}/auth/token",
                json={"username": name, "password": "wrong password"},
                headers={"X-Yui-Forwarded-By": "aws-a"},
            )
            for name in ("boss", "nobody")
        ]
        assert [p.status_code for p in probes] == [401, 401]

        # The primary loses etcd and its replica: it can no longer say it is the primary.
        b_site.close()
        etcd.stop_member(0, kill=True)
        refused = _until(
            lambda: (
                (answer := httpx.get(f"{a_api}/users", headers=staff)).status_code == 503 and answer
            ),
            "aws-a to stop labelling reads the primary's",
            within=15.0,
        )
        assert refused.json()["type"].endswith("/primary-unconfirmed")
        assert "x-yui-copy" not in refused.headers
    for db in dbs.values():
        db.dispose()
