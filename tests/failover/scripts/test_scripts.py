"""The operators' drill scripts: bilingual --help, strict bash, shellcheck clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "failover" / "scripts"
NAMES = ("precheck.sh", "run-drill.sh", "failback.sh", "collect-report.sh")
YUI = str(Path(sys.executable).with_name("yui"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, env={**os.environ, "YUI": YUI}
    )


@pytest.mark.parametrize("name", NAMES)
def test_each_script_has_bilingual_help_and_strict_mode(name: str) -> None:
    path = SCRIPTS / name
    assert os.access(path, os.X_OK)
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    result = _run(str(path), "--help")
    assert result.returncode == 0
    assert "使い方 / usage" in result.stdout and "exit" in result.stdout
    bad = _run(str(path), "--no-such-option")
    assert bad.returncode == 2 and "unknown argument" in bad.stderr


def test_scripts_are_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    result = _run("shellcheck", *(str(SCRIPTS / n) for n in NAMES))
    assert result.returncode == 0, result.stdout


def test_run_drill_says_why_a_partition_cannot_run(tmp_path: Path) -> None:
    result = _run(
        str(SCRIPTS / "run-drill.sh"),
        "--scenario",
        "partition",
        "--target",
        "aws-tokyo",
        "--root",
        str(tmp_path),
        "--drills",
        str(tmp_path / "drills"),
    )
    assert result.returncode == 2
    assert "network namespace" in " ".join(result.stderr.split())


def test_precheck_and_collect_fail_clearly_without_a_sandbox(tmp_path: Path) -> None:
    pre = _run(str(SCRIPTS / "precheck.sh"), "--root", str(tmp_path), "--drills", str(tmp_path))
    assert pre.returncode == 1 and "not up" in pre.stderr
    collect = _run(str(SCRIPTS / "collect-report.sh"), "--drills", str(tmp_path / "none"))
    assert collect.returncode == 1 and "no reports" in collect.stderr
