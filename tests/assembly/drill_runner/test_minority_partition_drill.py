"""End to end in a five-site sandbox whose sites run in network namespaces (root only):
the minority-partition drill cuts a tenant's primary off together with one of its
replicas. That side keeps two of the five etcd members (no quorum) and still reaches one
copy; the primary must fence itself (failsafe may keep it writing only while it reaches
every copy) while the three-site majority promotes the third copy. That copy alone cannot
acknowledge (no in-sync copy in another hazard zone is reachable: writes get 503
not-enough-in-sync, never a lone acknowledgement) until the heal brings the old primary
back as its replica; writes are then acknowledged again (the RTO spans the partition). The
checker finds no acknowledged write lost, no two primaries, no divergent copy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
    box = sandbox_up(tmp_path_factory, first_node_port=18541, netns=True, sites=5)
    yield box
    box.down()


def test_a_primary_cut_off_with_a_minority_of_etcd_fences_and_the_majority_promotes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    tenants: Any = sandbox.demo  # type: ignore[attr-defined]
    target = tenants[0].placement.primary
    report = drill_report(
        sandbox, tmp_path, "minority-partition", target, duration=25, settle_timeout=40
    )
    no_loss(report)
    assert report["tenants_affected"], report
    assert not report["rto_seconds"]["not_recovered"], report
    assert all(e["ok"] for e in report["expectations"]), report["expectations"]
    # two sites were cut (the target and a replica) and both came back
    rejoined = [e for e in report["expectations"] if "came back" in e["name"]]
    assert len(rejoined) == 2, report["expectations"]
    assert report["check"]["digests_not_comparable"] == [], report["check"]
    layout = netns.load_layout(sandbox.root)
    assert layout is not None
    assert not any(netns.is_cut(layout, site.site) for site in layout.sites)  # healed
    assert {s.state for s in sandbox.status()} == {"running"}
