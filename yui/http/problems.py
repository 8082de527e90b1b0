"""RFC 9457 problem details for every error response, and their OpenAPI description."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from yui.db.engine import is_lock_timeout
from yui.errors import NotAuthenticated, TooManyRequests, YuiError
from yui.http.routes import route_template

log = logging.getLogger("yui.http")

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://yui.example/problems/"

_TITLES = {
    400: "リクエストが正しくありません / Bad request",
    401: "認証が必要です / Authentication required",
    403: "権限がありません / Forbidden",
    404: "見つかりません / Not found",
    405: "このメソッドは使えません / Method not allowed",
    409: "競合しています / Conflict",
    413: "リクエストが大きすぎます / Request too large",
    415: "この形式は受け付けません / Unsupported media type",
    422: "入力が正しくありません / Invalid input",
    429: "リクエストが多すぎます / Too many requests",
    500: "内部エラー / Internal error",
    503: "一時的に利用できません / Temporarily unavailable",
    504: "時間内に応答がありません / No answer in time",
}


class Problem(BaseModel):
    """An error, as RFC 9457 describes it. `title` is Japanese, then English."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(
    status: int,
    detail: str | None,
    *,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=TYPE_BASE + (slug or str(status)),
        title=title or _TITLES.get(status, "エラー / Error"),
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    # Only what a client can act on; never echo the raw input back (it may be huge or personal).
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ][:50]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route answers at this path. Starlette's 405 names the methods of
    the first route whose path matched; a path with GET and POST routes said only GET."""
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in app.router.routes):
            allowed.append(method)
    return allowed


def install(app: FastAPI) -> None:
    @app.exception_handler(YuiError)
    async def _domain(request: Request, error: YuiError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(error, NotAuthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, TooManyRequests):
            headers["Retry-After"] = str(error.retry_after)
        elif isinstance(error.extra.get("retry_after"), int):  # e.g. writes paused for a move
            headers["Retry-After"] = str(error.extra["retry_after"])
        if error.status >= 500:
            log.error("domain error %s: %s", error.slug, error.detail)
        return problem_response(
            error.status,
            error.detail,
            slug=error.slug,
            title=error.title,
            instance=request.url.path,
            headers=headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = _clean_errors(error.errors())
        if any(item["type"] == "json_invalid" for item in errors):
            return problem_response(
                400,
                "JSONとして読めません / malformed JSON",
                slug="malformed-json",
                instance=request.url.path,
                errors=errors,
            )
        fields = ", ".join(dict.fromkeys(".".join(item["loc"]) for item in errors[:5]))
        return problem_response(
            422,
            f"入力を確認してください: {fields} / check the input: {fields}",
            slug="invalid-input",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers) if error.headers else {}
        if error.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request)) or headers.get("Allow", "")
        return problem_response(
            error.status_code,
            str(error.detail),
            instance=request.url.path,
            headers=headers or None,
        )

    @app.exception_handler(OperationalError)
    async def _database(request: Request, error: OperationalError) -> JSONResponse:
        if not is_lock_timeout(error):
            return await _unexpected(request, error)
        log.warning("lock wait timed out on %s: %s", route_template(request.scope), error.orig)
        return problem_response(
            503,
            "データベースが混み合っています。しばらくしてから再試行してください"
            " / the database is busy: retry shortly (nothing was written)",
            slug="database-busy",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, error: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed busy for the pool's whole wait (a site saturated by
        # load, seen in drills as 500s): busy, not broken, so a retryable 503 like a lock wait.
        log.warning("no free database connection on %s", route_template(request.scope))
        return problem_response(
            503,
            "サイトが混み合っています。しばらくしてから再試行してください"
            " / this site is busy: retry shortly",
            slug="database-busy",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", route_template(request.scope))
        return problem_response(
            500, "予期しないエラー / unexpected error", instance=request.url.path
        )


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def document_problems(schema: dict[str, Any], statuses: tuple[int, ...]) -> dict[str, Any]:
    """Describe every error response of every operation as problem+json in the OpenAPI."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
        Problem.model_json_schema()
    )
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            extra = (int(code) for code in responses if code.isdigit() and int(code) >= 400)
            for status in sorted({*statuses, *extra}):
                responses[str(status)] = {
                    "description": _TITLES.get(status, "Error"),
                    "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
                }
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)
    return schema
