"""The sandbox really starts, signals and stops processes: three sites on loopback."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from assembly.sandbox.plan import operator_context
from assembly.sandbox.runner import Sandbox, SandboxError

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if shutil.which("etcd") is None or shutil.which("redis-server") is None:
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail("etcd and redis-server are required (YUI_REQUIRE_SERVERS=1)")
        pytest.skip("etcd or redis-server not installed")
    box = Sandbox(tmp_path_factory.mktemp("sandbox"))
    plan = box.up(first_node_port=18401)  # over TLS: the clients below present the operator's
    from assembly.sandbox.demo import seed

    box.demo = seed(plan)  # type: ignore[attr-defined]
    box.plan = plan  # type: ignore[attr-defined]
    yield box
    box.down()


def _states(box: Sandbox, site: str, expect: set[str] | None = None) -> set[str]:
    """The site's process states, polled briefly until they equal ``expect`` (signals are async)."""
    import time

    deadline = time.monotonic() + 3
    while True:
        states = {s.state for s in box.status() if s.record.site == site}
        if expect is None or states == expect or time.monotonic() > deadline:
            return states
        time.sleep(0.05)


def test_three_sites_each_with_etcd_redis_s3_smtp_a_node_and_a_worker(sandbox: Sandbox) -> None:
    status = sandbox.status()
    assert len(status) == 18 and {s.state for s in status} == {"running"}
    assert {s.record.role for s in status} == {"etcd", "redis", "s3", "smtp", "node", "worker"}
    for site in sandbox.plan.sites:  # type: ignore[attr-defined]
        with urllib.request.urlopen(
            f"{site.url}/healthz", timeout=5, context=_tls(sandbox)
        ) as response:
            assert json.loads(response.read())["site"] == site.name
        assert Path(sandbox.root / "logs" / site.name / "node.log").exists()


def test_demo_tenants_have_primaries_at_different_sites(sandbox: Sandbox) -> None:
    demo = sandbox.demo  # type: ignore[attr-defined]
    assert len({tenant.placement.primary for tenant in demo}) == 2
    credentials = sandbox.root / "credentials.txt"
    assert credentials.stat().st_mode & 0o077 == 0
    for tenant in demo:
        site = next(s for s in sandbox.plan.sites if s.name == tenant.placement.primary)  # type: ignore[attr-defined]
        request = urllib.request.Request(
            f"{site.url}/api/v1/{tenant.code}/auth/token",
            method="POST",
            data=json.dumps({"username": "admin", "password": tenant.admin_password}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10, context=_tls(sandbox)) as response:
            assert "access_token" in json.loads(response.read())


def test_freeze_thaw_kill_restart_are_real_signals(sandbox: Sandbox) -> None:
    sandbox.freeze("gcp-osaka")
    assert _states(sandbox, "gcp-osaka", {"frozen"}) == {"frozen"}
    sandbox.thaw("gcp-osaka")
    assert _states(sandbox, "gcp-osaka", {"running"}) == {"running"}
    sandbox.kill("sakura-ishikari")
    import time

    time.sleep(0.3)
    assert _states(sandbox, "sakura-ishikari", {"crashed"}) == {
        "crashed"
    }  # reported, not restarted
    assert _states(sandbox, "aws-tokyo") == {"running"}
    sandbox.restart("sakura-ishikari")
    assert _states(sandbox, "sakura-ishikari") == {"running"}
    with pytest.raises(SandboxError, match="no site nowhere"):
        sandbox.kill("nowhere")


def _tls(sandbox: Sandbox) -> ssl.SSLContext | None:
    """The sandbox's CA and the operator's certificate (as `up` made them this time)."""
    return operator_context(sandbox.root)


def _post(
    sandbox: Sandbox, url: str, body: dict[str, object], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(
        url,
        method="POST",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=_tls(sandbox)) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def _settled(sandbox: Sandbox, timeout: float = 20.0) -> None:
    """Wait until every site sees etcd and holds its lease (after faults of earlier tests)."""
    import time

    deadline = time.monotonic() + timeout
    for site in sandbox.plan.sites:  # type: ignore[attr-defined]
        while True:
            try:
                with urllib.request.urlopen(
                    f"{site.url}/readyz", timeout=5, context=_tls(sandbox)
                ) as response:
                    checks = json.loads(response.read())["checks"]
                if checks.get("etcd") and checks.get("lease"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{site.name} did not settle")
            time.sleep(0.1)


def test_every_site_serves_every_tenant_through_its_primary(sandbox: Sandbox) -> None:
    _settled(sandbox)
    for tenant in sandbox.demo:  # type: ignore[attr-defined]
        for site in sandbox.plan.sites:  # type: ignore[attr-defined]
            status, headers, body = _post(
                sandbox,
                f"{site.url}/api/v1/{tenant.code}/auth/token",
                {"username": "admin", "password": tenant.admin_password},
            )
            assert status == 200, body
            assert headers["x-yui-served-by"] == tenant.placement.primary
            assert headers["x-yui-site"] == site.name


def test_static_stability_with_every_etcd_member_down(sandbox: Sandbox) -> None:
    """No etcd at all: every site keeps serving with the placements it knew, writes too."""
    import time

    sandbox.kill_role("etcd")
    time.sleep(5)  # past the 3 s lease TTL: the sites' leases are gone
    for tenant in sandbox.demo:  # type: ignore[attr-defined]
        for site in sandbox.plan.sites:  # type: ignore[attr-defined]
            status, headers, body = _post(
                sandbox,
                f"{site.url}/api/v1/{tenant.code}/auth/token",
                {"username": "admin", "password": tenant.admin_password},
            )
            assert status == 200, (site.name, body)  # sign-in writes its audit entry at the primary
            assert headers["x-yui-served-by"] == tenant.placement.primary
    sandbox.restart_role("etcd")
    deadline = time.monotonic() + 20
    site = sandbox.plan.sites[0]  # type: ignore[attr-defined]
    while time.monotonic() < deadline:
        with urllib.request.urlopen(
            f"{site.url}/readyz", timeout=5, context=_tls(sandbox)
        ) as response:
            if json.loads(response.read())["checks"].get("etcd") is True:
                break
        time.sleep(0.2)
    else:
        pytest.fail("the site did not reconnect to etcd")


def test_demo_residents_reach_every_copy(sandbox: Sandbox) -> None:
    """The demo municipalities' residents, written at their primaries, replicate to every site."""
    import sqlite3
    import time

    plan = sandbox.plan  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while True:
        counts = {}
        for site in plan.sites:
            with sqlite3.connect(plan.data_dir / site.name / "yui.db") as connection:
                counts[site.name] = dict(
                    connection.execute(
                        "SELECT tenant_id, count(*) FROM residents GROUP BY tenant_id"
                    ).fetchall()
                )
        if all(c == {t.code: 500 for t in sandbox.demo} for c in counts.values()):  # type: ignore[attr-defined]
            return
        if time.monotonic() > deadline:
            pytest.fail(f"copies differ: {counts}")
        time.sleep(0.5)


def test_down_stops_everything(tmp_path: Path, sandbox: Sandbox) -> None:
    pids = [s.record.pid for s in sandbox.status()]
    sandbox.down()
    assert sandbox.status() == []
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
        )
    sandbox.up(first_node_port=18401)  # the fixture's teardown stops this one
