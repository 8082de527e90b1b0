"""The event loop's watchdog names the code that blocks the loop, once per stall."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from yui.stall_watch import LoopStallWatch


def _blocking_call_in_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a synchronous call on the loop does to every other task


def test_a_stalled_loop_is_reported_with_the_code_that_blocks_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> LoopStallWatch:
        watch = LoopStallWatch(threshold=0.4, interval=0.05)
        await watch.start()
        await asyncio.sleep(0.2)  # turning: nothing to report
        _blocking_call_in_the_loop(1.0)
        await asyncio.sleep(0.3)  # turning again: the stall's end is reported
        await watch.stop()
        return watch

    with caplog.at_level(logging.WARNING, logger="yui.stall"):
        watch = asyncio.run(run())
    reports = [r.getMessage() for r in caplog.records if "has not turned" in r.getMessage()]
    assert len(reports) == 1, reports  # once per stall, not once per check
    assert "_blocking_call_in_the_loop" in reports[0]
    [ended] = [r.getMessage() for r in caplog.records if "turned again" in r.getMessage()]
    # sampled while it lasted: the blocking call is the place seen most
    assert "seen at: _blocking_call_in_the_loop" in ended, ended
    assert watch.stalls == 1 and 0.8 <= watch.longest < 3.0


def test_a_loop_that_turns_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        watch = LoopStallWatch(threshold=0.4, interval=0.05)
        await watch.start()
        for _ in range(10):
            await asyncio.sleep(0.05)
            _blocking_call_in_the_loop(0.02)  # short synchronous bits, under the threshold
        await watch.stop()

    with caplog.at_level(logging.WARNING, logger="yui.stall"):
        asyncio.run(run())
    assert [r for r in caplog.records if r.name == "yui.stall"] == []
