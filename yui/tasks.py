"""Stopping asyncio tasks without hanging the caller."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("yui.tasks")

#: how long a stop waits for a cancelled task before it gives up on it (and says so)
STOP_WITHIN_SECONDS = 10.0


async def cancel_and_wait(
    task: asyncio.Future[Any] | None,
    within: float = STOP_WITHIN_SECONDS,
) -> None:
    """Cancel ``task`` and wait for it to end, at most ``within`` seconds.

    Unlike ``with suppress(CancelledError): await task`` this neither swallows a
    cancellation of the caller itself nor waits for ever on a task stuck in a worker
    thread (a database lock wait): a shutdown always finishes. The task's own
    exception, if any, is logged, not raised."""
    if task is None:
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning("%s did not stop within %.0f s; left behind", _name(task), within)
        return
    if not task.cancelled() and task.exception() is not None:
        log.debug("%s ended with %r", _name(task), task.exception())


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
