"""End to end against the real sandbox: `yui drill run --scenario switchover` moves one
tenant's primary under load, zero loss, checked by the drill's checker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.sandbox.runner import Sandbox
from tests.support.sandboxes import demo_sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box, _demo = demo_sandbox(tmp_path_factory, "switchover-sandbox", 18781)
    yield box
    box.down()


def test_a_switchover_drill_moves_a_primary_and_loses_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    args = ["drill", "run", "--scenario", "switchover", "--target", "aws-tokyo"]
    args += ["--load", "20", "--duration", "5", "--json", "--root", str(sandbox.root)]
    args += ["--drills", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["scenario"] == "switchover" and report["tenants_affected"] == ["041009"]
    assert report["acknowledged_writes"] > 20, report
    assert report["lost_acknowledged_writes"] == 0 and report["split_brain_violations"] == 0
    assert report["duplicate_writes"] == 0 and report["digest_mismatches"] == 0
    assert not report["rto_seconds"]["not_recovered"], report["rto_seconds"]
    assert report["rto_seconds"]["max"] < 5, report["rto_seconds"]
    assert all(e["ok"] for e in report["expectations"]), report["expectations"]
