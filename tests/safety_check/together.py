"""Two requests at the same moment, made to meet where a race would show."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def meeting_after(call: Callable[P, T]) -> Callable[P, T]:
    """``call``, then a wait (up to a second) for a second caller to have made it too: two
    requests at once both get past ``call`` before either goes on, so both would see the
    same state if nothing ordered them. A lock that holds the second back until the first
    commits makes the wait run out instead, and the first goes on alone."""
    both = threading.Barrier(2, timeout=1)

    def then_wait(*args: P.args, **kwargs: P.kwargs) -> T:
        found = call(*args, **kwargs)
        try:
            both.wait()
        except threading.BrokenBarrierError:  # the other is held until this one commits
            pass
        return found

    return then_wait
