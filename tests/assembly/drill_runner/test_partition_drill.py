"""End to end against a real sandbox whose sites each run in a network namespace of their
own (`yui sandbox up --netns`, root only): the partition drill cuts the primary of a
tenant off from the other sites and etcd while the drill's clients still reach it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.sandbox_env import SandboxFaults
from assembly.sandbox import netns
from assembly.sandbox.runner import Sandbox
from tests.assembly.drill_runner.test_sandbox_drill import drill_report, no_loss, sandbox_up

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.etcd,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (CI runs as root)"),
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = sandbox_up(tmp_path_factory, first_node_port=18521, netns=True)
    yield box
    box.down()


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_a_partitioned_primary_fences_itself_and_its_tenants_fail_over(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    layout = netns.load_layout(sandbox.root)
    assert layout is not None and all(n.namespace in _namespaces() for n in layout.sites)
    report = drill_report(
        sandbox, tmp_path, "partition", "aws-tokyo", duration=8, settle_timeout=30
    )
    no_loss(report)
    assert report["tenants_affected"], report  # the target was a primary, and its tenants moved
    assert not report["rto_seconds"]["not_recovered"], report
    assert all(e["ok"] for e in report["expectations"]), report["expectations"]
    # the old primary learned it was deposed and caught up: every copy at one seq, one digest
    assert report["check"]["digests_not_comparable"] == [], report["check"]
    assert not netns.is_cut(layout, "aws-tokyo")  # healed
    assert {s.state for s in sandbox.status()} == {"running"}


def _inside(namespace: str | None) -> list[str]:
    return ["ip", "netns", "exec", namespace] if namespace else []


def _reaches(namespace: str | None, address: str) -> bool:
    """Whether a TCP connection from ``namespace`` (None: the root namespace) gets through."""
    probe = f"import socket; socket.create_connection(({address!r}, 8080), timeout=1.5)"
    command = [*_inside(namespace), sys.executable, "-c", probe]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def test_a_cut_site_reaches_no_peer_and_no_peer_reaches_it_but_its_clients_do(
    tmp_path: Path,
) -> None:
    layout = netns.plan_layout(tmp_path, ["site-a", "site-b"])
    netns.create(layout)
    a, b = layout.sites
    serve = [sys.executable, "-m", "http.server", "8080", "--bind"]
    servers = [
        subprocess.Popen([*_inside(n.namespace), *serve, n.address], stderr=subprocess.DEVNULL)
        for n in (a, b)
    ]
    try:
        deadline = time.monotonic() + 10
        while not (_reaches(None, a.address) and _reaches(None, b.address)):
            assert time.monotonic() < deadline, "the test servers did not start"
        assert _reaches(a.namespace, b.address) and _reaches(b.namespace, a.address)
        netns.cut(layout, "site-a")
        netns.cut(layout, "site-a")  # twice: still cut, no error
        assert netns.is_cut(layout, "site-a")
        assert not _reaches(a.namespace, b.address)  # the cut site reaches no peer
        assert not _reaches(b.namespace, a.address)  # and no peer reaches it
        assert _reaches(None, a.address)  # its clients (the root namespace) still do
        netns.heal(layout, "site-a")
        assert _reaches(a.namespace, b.address) and _reaches(b.namespace, a.address)
    finally:
        for server in servers:
            server.kill()
            server.wait()
        netns.destroy(layout.short)


def test_down_removes_the_namespaces_even_after_a_crashed_up(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "crashed")
    layout = netns.plan_layout(box.root, ["site-a", "site-b"])
    box.root.mkdir()
    (box.root / netns.LAYOUT_FILE).write_text(layout.to_json())  # as `up` leaves it
    netns.create(layout)
    assert all(n.namespace in _namespaces() for n in layout.sites)
    box.down()
    box.down()  # idempotent
    assert f"yui-{layout.short}-" not in _namespaces()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"yv{layout.short}" not in links


def test_a_sandbox_without_namespaces_says_why_it_cannot_be_partitioned(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "plain")
    refusal = box.partition_refusal()
    assert refusal is not None and "--netns" in refusal[1]
    with pytest.raises(CannotRun, match="network namespace"):
        SandboxFaults(box).inject("partition", "aws-tokyo")
