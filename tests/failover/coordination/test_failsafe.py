"""Failsafe mode is per tenant (failover.failsafe): with etcd down, a primary keeps a tenant's
writes only while every site holding a copy of it answers that etcd is down for it too.

Real etcd, a real peer site node (gcp-b, its own cluster link) and a site that does not
answer (sak-c: nothing listens at its URL).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assembly.cluster import ClusterLink
from assembly.sandbox.etcd import LocalEtcdCluster, free_ports
from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from failover.coordination import connect_etcd
from failover.placement.policy import Placement
from tests.conftest import TEST_SECRET
from tests.support import factories
from tests.support.servers import serving
from yui.db.database import Database
from yui.settings import Settings, load_settings

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(90)]

#: copies at aws-a (primary) and gcp-b, and a third at sak-c, which will not answer
ALL_ANSWER, ONE_SILENT = factories.CHIYODA, factories.SENDAI


def _settings(site: str, tmp_path: Path, topology: Path, endpoints: list[str]) -> Settings:
    return load_settings(
        site=site,
        topology_file=topology,
        data_dir=tmp_path / site,
        database_url=f"sqlite:///{tmp_path / site / 'yui.db'}",
        etcd_endpoints=",".join(endpoints),
        token_secret=TEST_SECRET,
        log_json=False,
    )


def _add_user(client: TestClient, tenant: str, headers: dict[str, str], name: str) -> int:
    response = client.post(
        f"/api/v1/{tenant}/users",
        json={"username": name, "password": factories.PASSWORD, "roles": ["staff"]},
        headers=headers,
    )
    assert response.status_code in (201, 503), response.text
    return response.status_code


def test_a_tenant_with_a_silent_copy_is_fenced_while_one_whose_copies_answer_writes(
    etcd_cluster: LocalEtcdCluster, tmp_path: Path
) -> None:
    port_a, port_b, port_c = free_ports(3)
    topology = tmp_path / "topology.toml"
    topology.write_text(
        "".join(
            f'[[site]]\nname = "{name}"\nprovider = "{name[:3]}"\nregion = "r"\n'
            f'hazard_zones = ["{zone}"]\nlatitude = 35.0\nlongitude = 139.0\n'
            f'url = "http://127.0.0.1:{port}"\n\n'
            for name, zone, port in (
                ("aws-a", "kanto", port_a),
                ("gcp-b", "kansai", port_b),
                ("sak-c", "hokkaido", port_c),
            )
        )
    )
    endpoints = etcd_cluster.endpoints
    primary_settings = _settings("aws-a", tmp_path, topology, endpoints)
    peer_settings = _settings("gcp-b", tmp_path, topology, endpoints)
    db = Database(primary_settings.effective_database_url)
    db.migrate(SCHEMA_HISTORY)
    admins = {}
    for tenant in (ALL_ANSWER, ONE_SILENT):
        factories.tenant(db, tenant, f"市 {tenant}")
        admins[tenant] = factories.user(db, tenant, "admin", "admin")
    link = ClusterLink(primary_settings, connect_etcd(endpoints))
    peer = create_app(peer_settings, cluster=ClusterLink(peer_settings, connect_etcd(endpoints)))
    with TestClient(create_app(primary_settings, db, migrate=False, cluster=link)) as client:
        with serving(peer, port=port_b):
            placements = {
                ALL_ANSWER: Placement(ALL_ANSWER, "aws-a", ("gcp-b",), ("gcp-b",)),
                ONE_SILENT: Placement(ONE_SILENT, "aws-a", ("gcp-b", "sak-c"), ("gcp-b", "sak-c")),
            }
            for tenant, placement in placements.items():
                revision = client.portal.call(
                    link.coordination.put_placement_if, tenant, placement, 0
                )
            deadline = time.monotonic() + 10
            while link.view.revision < revision or not link.holds_lease:
                assert time.monotonic() < deadline, "the primary did not see its placements"
                time.sleep(0.05)
            headers = {tenant: factories.sign_in(client, tenant, "admin") for tenant in placements}
            assert _add_user(client, ONE_SILENT, headers[ONE_SILENT], "before") == 201

            etcd_cluster.stop_all(kill=True)

            deadline = time.monotonic() + 10
            while link.holds_lease:  # the lease lapses (3 s)
                assert time.monotonic() < deadline, "the primary kept its lease without etcd"
                time.sleep(0.1)
            # The copies are asked every second: the tenant whose copies all answer "etcd is
            # down here too" gets its writes back.
            deadline = time.monotonic() + 20
            attempt = 0
            while _add_user(client, ALL_ANSWER, headers[ALL_ANSWER], f"all{attempt}") != 201:
                assert time.monotonic() < deadline, "failsafe never kept all-answering's writes"
                attempt += 1
                time.sleep(0.2)
            # The other has a copy at a site that does not answer: it may be on the side of a
            # partition where it is promoted. Its writes stay refused, check after check.
            for attempt in range(8):
                assert _add_user(client, ONE_SILENT, headers[ONE_SILENT], f"silent{attempt}") == 503
                assert _add_user(client, ALL_ANSWER, headers[ALL_ANSWER], f"more{attempt}") == 201
                time.sleep(0.5)
        # The peer goes silent too: failsafe does not last for ever. Within one lease TTL
        # (3 s) of its last answer, plus a check, its tenant is fenced as well.
        stopped = time.monotonic()
        attempt = 0
        while _add_user(client, ALL_ANSWER, headers[ALL_ANSWER], f"after{attempt}") != 503:
            assert time.monotonic() < stopped + 10, "failsafe outlived its silent copy"
            attempt += 1
            time.sleep(0.2)
    db.dispose()
