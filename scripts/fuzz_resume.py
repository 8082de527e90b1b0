"""A pytest plugin for scripts/fuzz.sh: a fuzz run that resumes where it stopped.

Each operation's outcome is appended to ``YUI_FUZZ_DONE`` ("<outcome><TAB><test name><TAB><seconds>",
one line per operation, written as it finishes), a failure's report to ``YUI_FUZZ_DONE``.failures
at once (pytest prints it only at the end of the session, lost if the run is interrupted), and
the operations already listed are deselected when the run is started again.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest


def _done_file() -> Path:
    return Path(os.environ["YUI_FUZZ_DONE"])


def finished(done: Path) -> dict[str, str]:
    """Test name -> outcome of every operation a run has finished."""
    if not done.exists():
        return {}
    lines = (line.split("\t") for line in done.read_text(encoding="utf-8").splitlines())
    return {parts[1]: parts[0] for parts in lines if len(parts) >= 2}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    done = finished(_done_file())
    skipped = [item for item in items if item.name in done]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if item.name not in done]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or (report.when == "setup" and not report.passed):
        with _done_file().open("a", encoding="utf-8") as done:
            done.write(f"{report.outcome}\t{item.name}\t{report.duration:.1f}\n")
        if report.failed:
            failures = _done_file().with_name(_done_file().name + ".failures")
            with failures.open("a", encoding="utf-8") as out:
                out.write(f"===== {item.name}\n{report.longreprtext}\n")
    return report
