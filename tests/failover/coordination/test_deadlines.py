"""An etcd call's deadline holds even when the call does not cancel cleanly.

aetcd's ``watch_once`` awaits its watcher's lock in a ``finally``; a watch stuck on a
member that died with the old controller's site held that lock, ``asyncio.wait_for``
waited for the cancelled call for ever, and no candidate became controller: the soak's
tenants that were never failed over. The candidate's calls now give up on time, and a
cancellation raised inside the client is an ordinary, retried failure."""

from __future__ import annotations

import asyncio
import time

import pytest

from failover.coordination.etcd import _is_transient, _within


async def _stuck_in_cleanup(lock: asyncio.Lock) -> None:
    try:
        await asyncio.sleep(10)
    finally:
        async with lock:  # held elsewhere for ever, like the stuck watch's lock
            pass


def test_a_call_stuck_in_its_cleanup_still_ends_at_its_deadline() -> None:
    async def scenario() -> float:
        lock = asyncio.Lock()
        await lock.acquire()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await _within(_stuck_in_cleanup(lock), 0.2)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 2.0


def test_a_cancellation_from_inside_the_client_is_a_transient_failure() -> None:
    async def cancelled_underneath() -> None:
        raise asyncio.CancelledError  # what aetcd's pending calls see when their client closes

    async def scenario() -> BaseException | None:
        try:
            await _within(cancelled_underneath(), 1.0)
        except Exception as error:
            return error
        return None

    error = asyncio.run(scenario())
    assert error is not None and _is_transient(error)


def test_a_cancellation_of_the_caller_still_cancels() -> None:
    async def scenario() -> None:
        waiting = asyncio.ensure_future(_within(asyncio.sleep(10), 5.0))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())
