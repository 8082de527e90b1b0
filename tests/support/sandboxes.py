"""A real sandbox (three sites, etcd, Redis, S3) for end-to-end tests, seeded with the
demo tenants; skipped when etcd or redis-server is missing (failed under
YUI_REQUIRE_SERVERS=1)."""

from __future__ import annotations

import os
import shutil

import pytest

from assembly.sandbox.demo import DemoTenant, seed
from assembly.sandbox.runner import Sandbox


def demo_sandbox(
    factory: pytest.TempPathFactory,
    name: str,
    first_port: int,
    residents: int = 50,
    tls: bool = True,
) -> tuple[Sandbox, list[DemoTenant]]:
    """Start it (call ``down()`` when done)."""
    if shutil.which("etcd") is None or shutil.which("redis-server") is None:
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail("etcd and redis-server are required (YUI_REQUIRE_SERVERS=1)")
        pytest.skip("etcd or redis-server not installed")
    box = Sandbox(factory.mktemp(name))
    plan = box.up(first_node_port=first_port, tls=tls)
    return box, seed(plan, residents=residents)
