"""The registry's residents per 町字 as the staff counts reuse them: the first request
counts, later ones within the time to live reuse the count, and after it an older count
is answered while a thread counts again (no request waits for the registry's full scan
but the first); a count that fails leaves the older one and is tried again."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from safety_check.views import service as views


class CountingRegistry:
    """The one call of the registry's port that `population` makes, counting its calls;
    a count waits until the test lets it finish, as a slow full scan would."""

    def __init__(self) -> None:
        self.calls = 0
        self.answers: list[dict[str, int] | Exception] = []
        self.release = threading.Event()
        self.release.set()
        self.done = threading.Event()

    def count_by_district(self, tenant: str, *, audience: Any) -> dict[str, int]:
        self.calls += 1
        self.release.wait(5)
        answer = self.answers.pop(0)
        self.done.set()
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_an_older_count_is_answered_while_it_is_counted_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = CountingRegistry()
    directory: Any = registry
    registry.answers = [{"一番町": 10}]
    assert views.population(directory, "041009") == {"一番町": 10}
    assert views.population(directory, "041009") == {"一番町": 10}
    assert registry.calls == 1  # reused within the time to live

    monkeypatch.setattr(views, "POPULATION_TTL_SECONDS", 0.0)
    registry.answers = [{"一番町": 11}]
    registry.release.clear()
    registry.done.clear()
    # expired: the older count at once, one recount in a thread however many ask
    assert views.population(directory, "041009") == {"一番町": 10}
    assert views.population(directory, "041009") == {"一番町": 10}
    registry.release.set()
    assert registry.done.wait(5)
    for _ in range(100):  # the thread stores its count right after the call returns
        if views._population_cache[directory]["041009"].counts == {"一番町": 11}:
            break
        threading.Event().wait(0.01)
    assert registry.calls == 2
    assert views._population_cache[directory]["041009"].counts == {"一番町": 11}

    # a recount that fails keeps the older count, and the next request tries again
    registry.answers = [RuntimeError("the registry is away"), {"一番町": 12}]
    registry.done.clear()
    assert views.population(directory, "041009") == {"一番町": 11}
    assert registry.done.wait(5)
    for _ in range(100):
        if not views._population_cache[directory]["041009"].recounting:
            break
        threading.Event().wait(0.01)
    registry.done.clear()
    assert views.population(directory, "041009") == {"一番町": 11}
    assert registry.done.wait(5)
    for _ in range(100):
        if views._population_cache[directory]["041009"].counts == {"一番町": 12}:
            break
        threading.Event().wait(0.01)
    assert views._population_cache[directory]["041009"].counts == {"一番町": 12}
    assert registry.calls == 4
