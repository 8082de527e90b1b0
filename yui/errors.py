"""Domain errors that every layer may raise; the HTTP layer turns them into problem+json.

Each error carries a stable `type` slug, an HTTP status, and a bilingual title
(Japanese first, then English), so a CLI and an API speak with the same words.
"""

from __future__ import annotations

from typing import Any, ClassVar


class YuiError(Exception):
    """Base of every error a user may see. Never a 500."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "リクエストが正しくありません / Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(YuiError):
    status = 422
    slug = "invalid-input"
    title = "入力が正しくありません / Invalid input"


class NotFound(YuiError):
    status = 404
    slug = "not-found"
    title = "見つかりません / Not found"


class Conflict(YuiError):
    status = 409
    slug = "conflict"
    title = "競合しています / Conflict"


class NotAuthenticated(YuiError):
    status = 401
    slug = "not-authenticated"
    title = "認証が必要です / Authentication required"


class Forbidden(YuiError):
    status = 403
    slug = "forbidden"
    title = "権限がありません / Forbidden"


class TooManyRequests(YuiError):
    status = 429
    slug = "too-many-requests"
    title = "リクエストが多すぎます / Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class Unavailable(YuiError):
    status = 503
    slug = "unavailable"
    title = "一時的に利用できません / Temporarily unavailable"


class TenantScopeError(YuiError):
    """A write or read outside the tenant in scope: a programming error, refused loudly."""

    status = 500
    slug = "tenant-scope"
    title = "テナント境界違反 / Tenant scope violation"
