"""How often one client may search, counted where every process of the site sees it.

The counts live in the site's Redis (YUI_REDIS_URL) through the maintained `limits`
library, as the sign-in limits do (`yui.auth.ratelimit`); a lone site without Redis
counts in its process's memory. The key is the client's address as the site's own
middleware established it (a trusted proxy's or a trusted forwarding site's word,
never a header the client wrote), so a client cannot choose its own bucket.
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from safety_check.search.settings import SearchSettings
from yui.errors import TooManyRequests, Unavailable
from yui.http.middleware import client_address


class SearchLimiter:
    """A moving window of `per_window` searches per key; a hit over it is refused whole."""

    def __init__(self, per_window: int, window_seconds: int, storage_uri: str = "memory://"):
        self.item = RateLimitItemPerSecond(per_window, window_seconds, "yui-safety-search")
        self.storage = storage_from_string(storage_uri, wrap_exceptions=True)
        self.strategy = MovingWindowRateLimiter(self.storage)

    def take(self, key: str) -> None:
        """Count one search for `key`, or raise 429 with the seconds until the next."""
        try:
            if self.strategy.hit(self.item, key):
                return
            reset_at = self.strategy.get_window_stats(self.item, key).reset_time
        except StorageError:
            raise Unavailable(
                "検索回数を記録できません（Redis に届きません）。しばらくしてから再試行してください"
                " / searches cannot be counted (Redis unreachable): retry shortly",
                retry_after=5,
            ) from None
        wait = max(math.ceil(reset_at - time.time()), 1)
        raise TooManyRequests(
            f"検索が多すぎます。{wait} 秒後に再試行してください / too many searches: retry in "
            f"{wait} s",
            retry_after=wait,
        )


def site_limiter(request: Request) -> SearchLimiter:
    """The site's limiter, made once per app from its settings (in its Redis when set)."""
    limiter: SearchLimiter | None = getattr(request.app.state, "safety_search_limiter", None)
    if limiter is None:
        settings = SearchSettings()
        redis_url = request.app.state.yui.settings.redis_url
        limiter = SearchLimiter(
            settings.per_client, settings.window_seconds, redis_url or "memory://"
        )
        request.app.state.safety_search_limiter = limiter
    return limiter


def take(request: Request, scope: str) -> str:
    """Count one search of this request's client in `scope` (a tenant, or "all" for the
    search across municipalities); the client's address, for the audit log."""
    client = client_address(dict(request.scope))
    site_limiter(request).take(f"{scope}:{client}")
    return client
