"""End to end against the real sandbox: an etcd-down drill (nothing fails over, every site
keeps serving). Runs once the site node mounts the drill-probe router (assembly/site.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from assembly.drill_runner.runner import DrillOptions, run_drill
from assembly.drill_runner.sandbox_env import open_environment
from assembly.sandbox.runner import Sandbox
from assembly.site import create_app
from yui.settings import load_settings

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd]


def _probes_mounted(tmp_path: Path) -> bool:
    settings = load_settings(site="probe-check", data_dir=tmp_path, log_json=False)
    app = create_app(settings, migrate=False)
    return "/api/v1/{tenant}/drill-probes" in app.openapi()["paths"]


def sandbox_up(
    tmp_path_factory: pytest.TempPathFactory,
    *,
    first_node_port: int,
    netns: bool = False,
    sites: int = 3,
) -> Sandbox:
    """A seeded sandbox of real processes (skips when the servers or probes are missing)."""
    if not _probes_mounted(tmp_path_factory.mktemp("check")):
        pytest.skip("the site node does not mount failover.drill.probe_api yet (assembly/site.py)")
    if shutil.which("etcd") is None or shutil.which("redis-server") is None:
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail("etcd and redis-server are required (YUI_REQUIRE_SERVERS=1)")
        pytest.skip("etcd or redis-server not installed")
    box = Sandbox(tmp_path_factory.mktemp("sandbox"))
    plan = box.up(first_node_port=first_node_port, netns=netns, sites=sites)
    from assembly.sandbox.demo import seed

    try:
        box.demo = seed(plan)  # type: ignore[attr-defined]
    except BaseException:
        box.down()
        raise
    return box


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = sandbox_up(tmp_path_factory, first_node_port=18501)
    yield box
    box.down()


def drill_report(
    sandbox: Sandbox, tmp_path: Path, scenario: str, target: str, **overrides: Any
) -> dict[str, Any]:
    async def drill() -> dict[str, Any]:
        env, watch = await open_environment(sandbox.root)
        try:
            options = DrillOptions(
                scenario=scenario,
                target=target,
                load=20,
                duration=5,
                tenants=2,
                out_root=tmp_path,
                warmup=1.0,
                hold=2.5,
                # copies of the final placement must converge (a restarted site rejoins);
                # the wait ends as soon as they have
                settle_timeout=30,
                drain_seconds=5,
            )
            options = replace(options, **overrides)
            return (await run_drill(options, env)).report
        finally:
            await watch.close()

    return asyncio.run(drill())


def failover_log(sandbox: Sandbox, since: str) -> str:
    """The nodes' failover and coordination lines from ``since`` (ISO time), oldest first:
    what a failed recovery assertion prints, so that a CI log says why."""
    lines = []
    for path in sorted((sandbox.root / "logs").glob("*/node.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            logger = str(record.get("logger", ""))
            if record.get("ts", "") >= since and logger.startswith(
                ("yui.failover", "yui.replication", "failover", "replication")
            ):
                lines.append(f"{record['ts'][11:23]} {record.get('site')} {record.get('msg')}")
    return "\n".join(sorted(lines)[-80:])


def verdict(report: dict[str, Any]) -> str:
    """What a failed assertion prints: the checker's counts, findings, expectations, notes."""
    check = report.get("check", {})
    findings = {k: v[:3] for k, v in check.get("findings", {}).items() if v}
    fields = {k: v for k, v in check.items() if k != "findings" and v}
    return json.dumps(
        {
            "check": fields,
            "findings": findings,
            "expectations": report.get("expectations"),
            "notes": report.get("notes"),
        },
        ensure_ascii=False,
        indent=1,
    )


def no_loss(report: dict[str, Any]) -> None:
    why = verdict(report)
    assert report["acknowledged_writes"], why
    assert report["lost_acknowledged_writes"] == 0 and report["split_brain_violations"] == 0, why
    assert report["duplicate_writes"] == 0 and report["digest_mismatches"] == 0, why
    assert report["lost_updates"] == 0 and report["resurrected_deletes"] == 0, why
    assert report["unconverged_copies"] == 0, why
    assert report["ok"] is True, why


@pytest.mark.parametrize(
    ("scenario", "target"), [("site-kill", "aws-tokyo"), ("site-freeze", "gcp-osaka")]
)
def test_a_lost_site_fails_over_without_losing_an_acknowledged_write(
    sandbox: Sandbox, tmp_path: Path, scenario: str, target: str
) -> None:
    # A longer window than the other drills: when the lost site also held the controller,
    # a second lease must expire first (≈ 2 × TTL), and a loaded CI machine adds seconds.
    report = drill_report(sandbox, tmp_path, scenario, target, duration=9, drain_seconds=8)
    no_loss(report)
    assert report["tenants_affected"], report  # the target was a primary, and its tenants moved
    why = f"{report}\n{failover_log(sandbox, report['started_at'])}"
    assert not report["rto_seconds"]["not_recovered"], why
    assert report["rto_seconds"]["max"] < 15, why
    assert {s.state for s in sandbox.status()} == {"running"}  # the site was brought back


def test_etcd_down_nothing_fails_over_and_every_site_keeps_serving(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    report = drill_report(sandbox, tmp_path, "etcd-down", "aws-tokyo")
    assert report["acknowledged_writes"], report
    assert report["lost_acknowledged_writes"] == 0 and report["split_brain_violations"] == 0
    assert report["digest_mismatches"] == 0
    assert all(e["ok"] for e in report["expectations"]), report["expectations"]
    assert report["ok"] is True, report
    assert {s.state for s in sandbox.status()} == {"running"}  # etcd came back
