"""A site's shutdown cannot hang on a task that will not stop, nor swallow its own
cancellation (the bug behind a test run that never finished)."""

from __future__ import annotations

import asyncio
import time

import pytest

from yui.tasks import cancel_and_wait

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_task_that_ignores_cancel_is_left_behind_after_the_bound() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # a retry loop that catches too much

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    started = time.monotonic()
    await cancel_and_wait(task, within=0.3)
    assert 0.25 <= time.monotonic() - started < 2
    assert not task.done()
    release.set()
    await task


async def test_a_task_that_stops_is_awaited_and_its_error_not_raised() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            raise RuntimeError("cleanup failed")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await cancel_and_wait(task, within=5)
    assert task.done()


async def test_cancelling_the_caller_is_not_swallowed() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    inner = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(inner, within=30))
    await asyncio.sleep(0.05)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(stopper, 5)
    release.set()
    await inner
