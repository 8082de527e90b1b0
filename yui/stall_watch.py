"""A watchdog of the event loop: says where a site's loop is when it stops turning.

A node whose event loop stalls renews no etcd lease and answers no probe, so the
controller fails it over: the soaks saw a new primary go silent for seconds right after
its promotion, its lease lapse, and its tenants move again, with nothing in the log to
say why. A thread of its own notices when the loop has not turned for ``threshold``
seconds and logs, once per stall, the stack of the loop's thread (blocked in our code, or
idle in ``select`` and only starved of the CPU or the GIL) and the top frame of every
other thread that is not waiting; and how long the stall lasted once the loop turns again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
import traceback
from collections import Counter
from types import FrameType

log = logging.getLogger("yui.stall")

#: the folders of this project's own code (the frames a report names beside the innermost)
_OURS = ("/yui/", "/replication/", "/failover/", "/assembly/", "/services/", "/console/")

#: frames of a thread that is waiting, not running (left out of the report)
_WAITING = ("wait", "get", "acquire", "select", "poll", "sleep", "accept", "recv", "_worker")


class LoopStallWatch:
    def __init__(self, threshold: float = 1.0, interval: float = 0.2) -> None:
        self.threshold = threshold
        self.interval = interval
        #: stalls seen, and the longest (seconds)
        self.stalls = 0
        self.longest = 0.0
        self._beat = time.monotonic()
        self._beat_cpu = time.process_time()
        self._loop_thread = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heart: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._heart = asyncio.get_running_loop().create_task(self._beating(), name="yui-heart")
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="yui-stall-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._heart is not None:
            self._heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heart
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval)

    async def _beating(self) -> None:
        while True:
            self._beat, self._beat_cpu = time.monotonic(), time.process_time()
            await asyncio.sleep(self.interval)

    def _watch(self) -> None:
        reported_at: float | None = None  # the beat a report was made for
        cpu_at = 0.0  # the process's CPU time at that beat
        sampled_beat: float | None = None
        samples: Counter[str] = Counter()  # where the loop's thread was, while overdue
        while not self._stop.wait(self.interval):
            beat, beat_cpu = self._beat, self._beat_cpu
            silent = time.monotonic() - beat
            if reported_at is not None and beat != reported_at:
                stalled = beat - reported_at
                self.longest = max(self.longest, stalled)
                # CPU near the stall's length: this process was busy (its loop or its
                # threads); near zero: the machine gave it no CPU (or it waited on I/O)
                log.warning(
                    "event loop turned again after a stall of %.1f s; the process used "
                    "%.1f s of CPU meanwhile (load average %.1f); the loop's thread was "
                    "seen at: %s",
                    stalled,
                    beat_cpu - cpu_at,
                    os.getloadavg()[0],
                    _most_seen(samples),
                )
                reported_at = None
            if silent >= 2 * self.interval:  # overdue: note where the loop's thread is
                if sampled_beat != beat:
                    sampled_beat, samples = beat, Counter()
                samples[self._where(self._loop_thread)] += 1
            if reported_at is None and silent >= self.threshold:
                reported_at, cpu_at = beat, beat_cpu
                self.stalls += 1
                log.warning(
                    "event loop has not turned for %.1f s (the process used %.1f s of CPU; "
                    "load average %.1f); its thread is at:\n%s%s",
                    silent,
                    time.process_time() - beat_cpu,
                    os.getloadavg()[0],
                    self._stack_of(self._loop_thread),
                    self._others(),
                )

    @staticmethod
    def _where(thread_id: int) -> str:
        """The innermost frame of the thread, and the innermost of this project's own."""
        frame = sys._current_frames().get(thread_id)
        if frame is None:
            return "(gone)"
        inner = f"{frame.f_code.co_name} ({_short(frame.f_code.co_filename)}:{frame.f_lineno})"
        ours: FrameType | None = frame
        while ours is not None and not _is_ours(ours.f_code.co_filename):
            ours = ours.f_back
        if ours is None or ours is frame:
            return inner
        return (
            f"{inner} in {ours.f_code.co_name} ({_short(ours.f_code.co_filename)}:{ours.f_lineno})"
        )

    @staticmethod
    def _stack_of(thread_id: int, depth: int = 14) -> str:
        frame = sys._current_frames().get(thread_id)
        if frame is None:
            return "  (gone)\n"
        return "".join(traceback.format_stack(frame)[-depth:])

    def _others(self) -> str:
        lines = []
        for thread_id, frame in sys._current_frames().items():
            if thread_id in (self._loop_thread, threading.get_ident()):
                continue
            where = f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"
            if not frame.f_code.co_name.lstrip("_").startswith(_WAITING):
                lines.append(f"  thread {thread_id}: {where}")
        return ("other threads running:\n" + "\n".join(lines)) if lines else ""


def _is_ours(filename: str) -> bool:
    return "site-packages" not in filename and any(part in filename for part in _OURS)


def _short(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def _most_seen(samples: Counter[str], top: int = 3) -> str:
    if not samples:
        return "(no sample)"
    total = sum(samples.values())
    return "; ".join(f"{where} {count}/{total}" for where, count in samples.most_common(top))
