"""Two requests at the same moment, made to meet where a race would show."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Meeting:
    """Two callers made to meet, each after a call of its own (the same function or two
    different ones, e.g. a request's read and a job's read of the same rows)."""

    def __init__(self) -> None:
        self._both = threading.Barrier(2, timeout=1)
        #: set when the leading call (``after(..., leads=True)``) has returned: the other
        #: caller may wait for it to start second
        self.led = threading.Event()

    def after(self, call: Callable[P, T], *, leads: bool = False) -> Callable[P, T]:
        """``call``, then a wait (up to a second) for the other caller to have made its
        call too: both get past their reads before either goes on, so both would see the
        same state if nothing ordered them. A lock that holds the second back until the
        first commits makes the wait run out instead, and the first goes on alone."""

        def then_wait(*args: P.args, **kwargs: P.kwargs) -> T:
            found = call(*args, **kwargs)
            if leads:
                self.led.set()
            try:
                self._both.wait()
            except threading.BrokenBarrierError:  # the other is held until this one commits
                pass
            return found

        return then_wait


def meeting_after(call: Callable[P, T]) -> Callable[P, T]:
    """``call`` made by two requests at once, which meet after it (see `Meeting.after`)."""
    return Meeting().after(call)
