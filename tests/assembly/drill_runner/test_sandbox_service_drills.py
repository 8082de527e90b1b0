"""End to end against the real sandbox: the services' own writes through every site while the
primary site is killed (issue 15: no acknowledged safety report lost — one-tap links read
from the fan-out's mail, the open form, staff calls — and a resent id answers its first
result; issue 16: no acknowledged stock movement lost, balances equal to the ledger, none
below zero)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assembly.drill_runner.runner import DrillOptions, run_drill
from assembly.drill_runner.sandbox_env import open_environment
from assembly.sandbox.runner import Sandbox
from tests.assembly.drill_runner.test_sandbox_drill import (
    failover_log,
    no_loss,
    sandbox_up,
    verdict,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = sandbox_up(tmp_path_factory, first_node_port=18631)
    yield box
    box.down()


def site_kill_report(sandbox: Sandbox, tmp_path: Path, workload: str) -> dict[str, Any]:
    """A site-kill drill of the workload, its target the primary of the first demo tenant
    (wherever an earlier drill left it)."""

    async def drill() -> dict[str, Any]:
        env, watch = await open_environment(sandbox.root)
        try:
            placements = await watch.placements()
            target = placements[min(placements)].primary
            options = DrillOptions(
                scenario="site-kill",
                target=target,
                load=8,
                # as the probe's site-kill drill: a second lease may have to expire when
                # the lost site held the controller, and a loaded machine adds seconds
                duration=9,
                drain_seconds=8,
                tenants=2,
                out_root=tmp_path,
                warmup=2.0,
                # a report or movement replicates more rows than a probe: the copies get
                # the default minute to converge
                settle_timeout=60,
                workload=workload,
            )
            return (await run_drill(options, env)).report
        finally:
            await watch.close()

    return asyncio.run(drill())


@pytest.mark.parametrize("workload", ["safety-reports", "supplies-movements"])
def test_killing_the_primary_site_loses_no_acknowledged_service_write(
    sandbox: Sandbox, tmp_path: Path, workload: str
) -> None:
    report = site_kill_report(sandbox, tmp_path, workload)
    why = f"{verdict(report)}\n{failover_log(sandbox, report['started_at'])}"
    assert report["load"]["workload"] == workload
    no_loss(report)  # every acknowledged report or movement at the final primary, once
    assert report["invariant_violations"] == 0, why  # stock: none below zero, = the ledger
    assert report["tenants_affected"], why  # the killed site was a primary, and they moved
    assert not report["rto_seconds"]["not_recovered"], why
    assert {s.state for s in sandbox.status()} == {"running"}  # the site was brought back
    if workload == "safety-reports":  # each kind acknowledged, and a resend answers the first
        resends = [e for e in report["expectations"] if "a resent id" in e["name"]]
        assert [e["name"].rsplit(" ", 1)[1] for e in resends] == [
            "(report)",
            "(one_tap)",
            "(open_form)",
        ]
        assert all(e["ok"] for e in resends), why
