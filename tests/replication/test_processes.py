"""Real processes: three site nodes with real etcd (the sandbox). A replica site is
killed with SIGKILL while writes stream, comes back, catches up, and every copy's digest
equals the primary's."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assembly.sandbox.plan import operator_context
from assembly.sandbox.runner import Sandbox
from replication.ports import StaticPeers
from replication.protocol.client import PeerClient
from replication.protocol.signing import load_site_key
from replication.verify.copies import verify_tenant

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd, pytest.mark.slow]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if shutil.which("etcd") is None or shutil.which("redis-server") is None:
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail("etcd and redis-server are required (YUI_REQUIRE_SERVERS=1)")
        pytest.skip("etcd or redis-server not installed")
    box = Sandbox(tmp_path_factory.mktemp("replication-sandbox"))
    plan = box.up(first_node_port=18451)  # over TLS: the clients below present the operator's
    from assembly.sandbox.demo import seed

    box.demo = seed(plan, residents=200)  # type: ignore[attr-defined]
    box.plan = plan  # type: ignore[attr-defined]
    yield box
    box.down()


def _call(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15, context=tls) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError as error:
        return 0, {"error": str(error)}


class Writer(threading.Thread):
    """Idempotent probes, one after the other, through the primary; keeps what was
    acknowledged (201) and what was refused."""

    def __init__(self, url: str, token: str, tls: ssl.SSLContext | None) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.tls = url, token, tls
        self.acknowledged: list[str] = []
        self.refused: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            probe = str(uuid.uuid4())
            status, _ = _call("POST", self.url, {"id": probe, "payload": "x"}, self.token, self.tls)
            (self.acknowledged.append(probe) if status == 201 else self.refused.append(status))
            time.sleep(0.01)


async def _wait_caught_up(client: PeerClient, tenant: str, primary: str, sites: list[str]) -> None:
    deadline = time.monotonic() + 90
    while True:
        head = (await client.status(primary, tenant)).durable_seq
        applied = [(await client.status(site, tenant)).applied_seq for site in sites]
        if all(seq >= head for seq in applied):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sites} at {applied}, primary at {head}")
        await asyncio.sleep(0.2)


def test_a_killed_replica_catches_up_and_every_digest_matches(sandbox: Sandbox) -> None:
    plan: Any = sandbox.plan  # type: ignore[attr-defined]
    tenant = sandbox.demo[0]  # type: ignore[attr-defined]
    primary, victim = tenant.placement.primary, tenant.placement.replicas[0]
    urls = {site.name: site.url for site in plan.sites}
    tls = operator_context(sandbox.root)
    status, body = _call(
        "POST",
        f"{urls[primary]}/api/v1/{tenant.code}/auth/token",
        {"username": "admin", "password": tenant.admin_password},
        tls=tls,
    )
    assert status == 200, body
    writer = Writer(f"{urls[primary]}/api/v1/{tenant.code}/drill-probes", body["access_token"], tls)
    writer.start()
    try:
        time.sleep(2)
        before = len(writer.acknowledged)
        sandbox.kill(victim)  # SIGKILL: the node, its etcd member, everything of the site
        time.sleep(4)
        during = len(writer.acknowledged) - before
        sandbox.restart(victim)
        time.sleep(3)
    finally:
        writer.stop.set()
        writer.join(30)
    assert before > 0 and during > 0, "writes stop while a replica is down"
    assert writer.acknowledged

    async def check() -> None:
        key = load_site_key(primary, plan.keys_dir / f"{primary}.pem")
        async with httpx.AsyncClient(timeout=30, verify=tls or True) as http:
            client = PeerClient(key, StaticPeers(urls), http)
            replicas = list(tenant.placement.replicas)
            await _wait_caught_up(client, tenant.code, primary, replicas)
            report = await verify_tenant(client, tenant.code, primary, replicas)
            assert report.ok, (report.differences, [c.error for c in report.copies])
            deadline = time.monotonic() + 30
            while True:  # the restarted replica is back in the in-sync set
                node = await client.node_status(primary)
                placed = next(t for t in node.tenants if t.tenant == tenant.code)
                if victim in placed.in_sync:
                    break
                assert time.monotonic() < deadline, placed
                await asyncio.sleep(0.3)

    asyncio.run(check())


def test_the_replication_command_speaks_to_every_site_over_mutual_tls(sandbox: Sandbox) -> None:
    """`yui replication status`, run with a site's own settings, reaches all three sites:
    it presents that site's certificate (the sites refuse /replication/ without one) and
    verifies theirs against the platform's CA."""
    plan: Any = sandbox.plan  # type: ignore[attr-defined]
    tenant = sandbox.demo[0]  # type: ignore[attr-defined]
    primary = tenant.placement.primary
    node = next(r for r in plan.processes() if r.role == "node" and r.site == primary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUI_")} | node.env
    done = subprocess.run(
        [sys.executable, "-m", "assembly", "replication", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert sorted(answers) == sorted(site.name for site in plan.sites)
    unreachable = {site: a for site, a in answers.items() if isinstance(a, str)}
    assert not unreachable, unreachable
    held = {t["tenant"] for t in answers[primary]["tenants"]}
    assert tenant.code in held
