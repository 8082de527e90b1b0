"""A site node that starts while etcd is unreachable (issue 11, hole 1), against a real
etcd: its cluster view is empty, and it must not take the writes of a tenant it holds a
copy of as if it were a lone site.

The issue's reproduction: every etcd member killed, the replica site's node restarted,
an admin creates a staff account for a tenant whose primary is alive elsewhere — it was
answered 201 at the replica, and later quarantined. Here the write is refused with a 503
problem (Retry-After) until the placement is known; then the view's answer decides (the
replica answers 421, "not the primary"). A tenant with no copy here is a lone site's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from assembly.cluster import ClusterLink, EtcdPlacements
from assembly.sandbox.etcd import LocalEtcdCluster
from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from failover.coordination.interface import CoordinationUnavailable
from failover.placement.policy import Placement
from replication.node import ReplicationNode
from replication.ports import StaticPeers
from replication.protocol.signing import SiteKey, TrustStore, generate_key
from replication.replica.roles import seal
from replication.sql import reading
from replication.state import read
from tests.conftest import TEST_SECRET
from tests.failover.coordination.test_etcd_placements import TOPOLOGY
from yui.auth.models import StaffUser
from yui.db.database import Database
from yui.settings import load_settings
from yui.tenancy.service import create_tenant

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(90)]

SITE = "gcp-b"
COPY = "041009"  # a replica copy is here; its primary is aws-a
DEPOSED = "011002"  # a copy this site wrote as the primary (it may have been deposed since)
LONE = "271004"  # no copy, no placement


def _staff_route(app: FastAPI, db: Database) -> None:
    @app.post("/test/{tenant}/staff/{username}")
    def create_staff(tenant: str, username: str) -> dict[str, str]:
        with db.unit_of_work(tenant) as uow:
            uow.session.add(StaffUser(username=username, password_hash="x", roles=["staff"]))
            uow.commit()
        return {"created": username}


def _role(db: Database, tenant: str) -> str:
    with reading(db.engine) as connection:
        return read(connection, tenant).role


def _staff(db: Database, tenant: str) -> int:
    with db.unit_of_work(tenant, read_only=True) as uow:
        return int(uow.session.execute(select(func.count()).select_from(StaffUser)).scalar_one())


async def _placed(link: ClusterLink, placement: Placement) -> int:
    """Write the placement once etcd answers again (its members are still electing)."""
    while True:
        try:
            return await link.coordination.put_placement_if(placement.tenant, placement, 0)
        except CoordinationUnavailable:
            await asyncio.sleep(0.2)


def test_a_replica_started_without_etcd_refuses_its_tenants_writes(
    etcd_cluster: LocalEtcdCluster, tmp_path: Path
) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(TOPOLOGY)
    settings = load_settings(
        site=SITE,
        topology_file=topology,
        data_dir=tmp_path / SITE,
        database_url=f"sqlite:///{tmp_path / SITE}.db",
        token_secret=TEST_SECRET,
        etcd_endpoints=",".join(etcd_cluster.endpoints),
        retry_timeout_seconds=0.5,
        keepalive_interval_seconds=0.5,
        lease_ttl_seconds=2,
        log_json=False,
    )
    db = Database(settings.effective_database_url)
    db.migrate(SCHEMA_HISTORY)
    for tenant, name in ((DEPOSED, "札幌市"), (LONE, "堺市")):
        create_tenant(db, tenant, name)
    seal(db, COPY, 1)  # an empty replica copy, as the controller seals a copy it seeds
    seal(db, DEPOSED, 1)  # a copy that logged its own writes: it was the primary
    assert (_role(db, COPY), _role(db, DEPOSED)) == ("replica", "primary")

    etcd_cluster.stop_all(kill=True)  # every member down before the node starts

    async def scenario() -> None:
        link = ClusterLink(settings)
        key = SiteKey(SITE, generate_key())
        node = ReplicationNode(
            site=SITE,
            db=db,
            key=key,
            trust=TrustStore.from_mapping({SITE: key.public_key_b64}),
            placements=EtcdPlacements(link),
            peers=StaticPeers({}),
        )
        app = create_app(settings, db, migrate=False, cluster=link, replication=node)
        _staff_route(app, db)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        await link.start()
        await node.start()
        try:
            assert not link.view.loaded
            for tenant in (COPY, DEPOSED):
                refused = await http.post(f"/test/{tenant}/staff/while-etcd-is-down")
                assert refused.status_code == 503, refused.text
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.headers["retry-after"] == "1"
                problem = refused.json()
                assert problem["type"].endswith("/placement-unknown")
                assert "配置" in problem["detail"] and "placement" in problem["detail"]
                assert _staff(db, tenant) == 0  # nothing committed

            # A tenant this site holds no copy of is served as a lone site's, as before.
            lone = await http.post(f"/test/{LONE}/staff/lone-admin")
            assert lone.status_code == 200, lone.text

            # etcd is back; the placement names aws-a the primary, this site a replica.
            await asyncio.to_thread(etcd_cluster.start_all)
            async with asyncio.timeout(30):
                epoch = await _placed(link, Placement(COPY, "aws-a", (SITE, "sak-c"), (SITE,)))
                await link.view.wait_for_revision(epoch)
            not_here = await http.post(f"/test/{COPY}/staff/at-the-replica")
            assert not_here.status_code == 421, not_here.text
            assert _staff(db, COPY) == 0
        finally:
            await http.aclose()
            await node.stop()
            await link.stop()
            db.dispose()

    asyncio.run(scenario())
