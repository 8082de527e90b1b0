"""Failed sign-ins counted per account and per client address in a moving window.

The counts live in the site's Redis (YUI_REDIS_URL) through the maintained `limits`
library, so every process of the site shares them; a lone site without Redis keeps them
in memory. Sign-in is a write, so the gateway forwards it to the tenant's primary: both
counts are kept where the account lives. Memory is bounded: each key holds at most
`max_failures` timestamps and expires with its window, and the account count is kept only
for accounts that exist (guessing names creates no keys).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from yui.errors import Unavailable


class FailureLimiter:
    def __init__(self, max_failures: int, window_seconds: float, storage_uri: str = "memory://"):
        self.max_failures = max_failures
        self.window = window_seconds
        self.item = RateLimitItemPerSecond(max_failures, math.ceil(window_seconds), "yui-login")
        self.storage = storage_from_string(storage_uri, wrap_exceptions=True)
        self.strategy = MovingWindowRateLimiter(self.storage)

    def retry_after(self, *keys: str) -> int:
        """Seconds until a blocked key may try again; 0 when none is blocked."""
        wait = 0
        with _counting():
            for key in keys:
                if not self.strategy.test(self.item, key):
                    reset_at = self.strategy.get_window_stats(self.item, key).reset_time
                    wait = max(wait, math.ceil(reset_at - time.time()), 1)
        return wait

    def fail(self, *keys: str) -> None:
        with _counting():
            for key in keys:
                self.strategy.hit(self.item, key)

    def succeed(self, key: str) -> None:
        with _counting():
            self.strategy.clear(self.item, key)


@contextmanager
def _counting() -> Iterator[None]:
    """The site's Redis unreachable: no sign-in without its count (a 503, never a 500)."""
    try:
        yield
    except StorageError:
        raise Unavailable(
            "ログイン回数を記録できません（Redis に届きません）。しばらくしてから再試行してください"
            " / sign-in attempts cannot be counted (Redis unreachable): retry shortly",
            retry_after=5,
        ) from None


def login_limiter(
    max_failures: int, window_seconds: float, redis_url: str | None
) -> FailureLimiter:
    """The site's limiter: in its Redis when it has one, else in this process's memory."""
    return FailureLimiter(max_failures, window_seconds, redis_url or "memory://")
