"""Real processes: a four-site sandbox (`--sites 4`, real etcd). The primary site of a
tenant is killed with SIGKILL → a replica is promoted → after the grace period the
controller adds a replica at the site that held no copy → it bootstraps (snapshot + tail),
joins the in-sync set, and its digest equals the new primary's. The killed site comes
back as an extra replica outside the in-sync set, catches up and rejoins it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.sandbox.demo import DemoTenant, seed
from assembly.sandbox.plan import SandboxPlan, operator_context, operator_tls
from assembly.sandbox.runner import Sandbox
from failover.coordination import connect_etcd
from failover.placement.policy import Placement
from replication.ports import StaticPeers
from replication.protocol.client import PeerClient
from replication.protocol.signing import load_site_key
from replication.verify.copies import verify_tenant
from tests.replication.test_processes import _call, _wait_caught_up

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def four_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, SandboxPlan]]:
    if shutil.which("etcd") is None or shutil.which("redis-server") is None:
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail("etcd and redis-server are required (YUI_REQUIRE_SERVERS=1)")
        pytest.skip("etcd or redis-server not installed")
    box = Sandbox(tmp_path_factory.mktemp("restore-sandbox"))
    plan = box.up(first_node_port=18561, sites=4)  # over TLS (the default)
    try:
        yield box, plan
    finally:
        box.down()


def _placement(plan: SandboxPlan, tenant: str) -> Placement:
    async def read() -> Placement:
        async with connect_etcd(
            plan.etcd_endpoints.split(","), tls=operator_tls(plan.root)
        ) as coordination:
            placement, _ = await coordination.get_placement(tenant)
            assert placement is not None
            return placement

    return asyncio.run(read())


def _wait(
    plan: SandboxPlan, tenant: str, check: Callable[[Placement], bool], timeout: float
) -> Placement:
    deadline = time.monotonic() + timeout
    while True:
        placement = _placement(plan, tenant)
        if check(placement):
            return placement
        assert time.monotonic() < deadline, placement
        time.sleep(0.3)


def _write(url: str, tenant: DemoTenant, count: int, tls: ssl.SSLContext | None) -> None:
    status, body = _call(
        "POST",
        f"{url}/api/v1/{tenant.code}/auth/token",
        {"username": "admin", "password": tenant.admin_password},
        tls=tls,
    )
    assert status == 200, body
    token = body["access_token"]
    for i in range(count):
        status, body = _call(
            "POST",
            f"{url}/api/v1/{tenant.code}/drill-probes",
            {"id": str(uuid.uuid4()), "payload": f"restore {i}"},
            token,
            tls,
        )
        assert status == 201, body


def test_a_killed_primary_site_s_copy_is_restored_at_the_fourth_site(
    four_sites: tuple[Sandbox, SandboxPlan],
) -> None:
    box, plan = four_sites
    tenant = seed(plan, residents=200)[0]
    urls = {site.name: site.url for site in plan.sites}
    tls = operator_context(plan.root)
    old = tenant.placement
    (spare,) = set(urls) - set(old.copies)  # four sites, three copies: one holds none
    _write(urls[old.primary], tenant, 5, tls)

    killed = time.monotonic()
    box.kill(old.primary)  # SIGKILL: node, etcd member, Redis, S3 of the site
    promoted = _wait(plan, tenant.code, lambda p: p.primary != old.primary, timeout=30)
    seconds = {"promoted_s": time.monotonic() - killed}
    new_primary = promoted.primary
    assert spare not in promoted.copies
    _write(urls[new_primary], tenant, 10, tls)  # a tail beyond the snapshot the new copy gets

    restored = _wait(plan, tenant.code, lambda p: spare in p.replicas, timeout=30)
    seconds["replica_added_s"] = time.monotonic() - killed
    assert old.primary in restored.replicas and old.primary not in restored.in_sync
    joined = _wait(plan, tenant.code, lambda p: spare in p.in_sync, timeout=40)
    seconds["in_sync_s"] = time.monotonic() - killed
    print(json.dumps({k: round(v, 2) for k, v in seconds.items()}))  # docs/benchmarks.md
    assert joined.primary == new_primary
    _write(urls[new_primary], tenant, 5, tls)  # acknowledged by the new copy too (it is in sync)

    args = ["placement", "show", "--json", "--tenant", tenant.code, "--etcd", plan.etcd_endpoints]
    shown = CliRunner().invoke(app, [*args, "--root", str(plan.root)])
    assert shown.exit_code == 0, shown.output
    copies: dict[str, Any] = json.loads(shown.output)[0]["copies"]
    assert copies["lost"] == [old.primary] and not copies["under_replicated"]

    async def check() -> None:
        key = load_site_key(new_primary, plan.keys_dir / f"{new_primary}.pem")
        async with httpx.AsyncClient(timeout=30, verify=tls or True) as http:
            client = PeerClient(key, StaticPeers(urls), http)
            live = [r for r in joined.replicas if r != old.primary]
            await _wait_caught_up(client, tenant.code, new_primary, live)
            report = await verify_tenant(client, tenant.code, new_primary, live)
            assert report.ok, (report.differences, [c.error for c in report.copies])
            assert {c.site for c in report.copies} >= {new_primary, spare}

    asyncio.run(check())

    box.restart(old.primary)  # the deposed primary returns: an extra replica, caught up
    back = _wait(plan, tenant.code, lambda p: old.primary in p.in_sync, timeout=60)
    assert back.primary == new_primary and len(back.copies) == 4
