"""Moving a stream between a worker thread (the database side) and the event loop (the
HTTP side) with back-pressure, so neither end ever holds the whole stream."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")
R = TypeVar("R")


class PipeClosed(Exception):
    """The other end gave up."""


class Pipe(Generic[T]):
    def __init__(self, maxsize: int = 16) -> None:
        self._queue: queue.Queue[T] = queue.Queue(maxsize)
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def put(self, item: T) -> None:
        """Blocking (thread side)."""
        while True:
            if self._closed.is_set():
                raise PipeClosed
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self) -> T:
        """Blocking (thread side)."""
        while True:
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._closed.is_set():
                    raise PipeClosed from None

    async def aput(self, item: T) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            await anyio.to_thread.run_sync(self.put, item)

    async def aget(self) -> T:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return await anyio.to_thread.run_sync(self.get)


def in_thread(function: Callable[[], R], name: str) -> asyncio.Future[R]:
    """Run a long ``function`` in its own thread (not the shared pool) and await it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[R] = loop.create_future()

    def settle(result: R | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = function()
        except BaseException as error:
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
