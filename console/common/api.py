"""The console reads and writes through the platform's own HTTP API, in process.

A page's request goes through the whole site node (the gateway included), exactly as
a client's would: a tenant whose primary is elsewhere is forwarded there, a read may
be served by this site's replica (and says so, with its lag), the API's roles and
audit apply unchanged. The console adds no second way into the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from starlette.requests import Request

#: the API's root for one municipality (assembly.site.API_PREFIX)
API_ROOT = "/api/v1/{tenant}"

#: "cluster": the page shows the placements as this site sees them (etcd's view);
#: "none": the page shows no municipality's data (a form, the sign-in page)
Copy = Literal["primary", "replica", "single", "cluster", "none"]


@dataclass(frozen=True)
class Served:
    """Where a page's data came from: shown on every page."""

    #: the site that rendered the page
    page_site: str
    #: the site whose database answered
    data_site: str
    copy: Copy
    lag_entries: int | None = None
    lag_seconds: float | None = None

    @classmethod
    def from_headers(cls, page_site: str, headers: httpx.Headers) -> Served:
        given = headers.get("x-yui-copy", "")
        copy: Copy = "primary" if given == "primary" else "replica" if given else "single"
        return cls(
            page_site=page_site,
            data_site=headers.get("x-yui-served-by", page_site),
            copy=copy,
            lag_entries=_number(headers.get("x-yui-replica-lag-entries"), int),
            lag_seconds=_number(headers.get("x-yui-replica-lag-seconds"), float),
        )


def least_fresh(first: Served, *others: Served) -> Served:
    """Where a page built from several answers says its data came from: the replica
    that is furthest behind, if any answer came from one (an audited read is answered
    by the primary, the counts beside it may be a replica's), else the first."""
    replicas = [s for s in (first, *others) if s.copy == "replica"]
    if not replicas:
        return first
    return max(replicas, key=lambda s: (s.lag_seconds or 0.0, s.lag_entries or 0))


def _number(text: str | None, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: Any
    served: Served
    headers: httpx.Headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> str:
        """The API's explanation of a refusal ("日本語 / English")."""
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or self.status)
        return str(self.status)


async def call_api(
    request: Request,
    method: str,
    tenant: str,
    path: str,
    *,
    token: str | None = None,
    params: dict[str, Any] | None = None,
    json: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> ApiAnswer:
    """Call ``/api/v1/{tenant}{path}`` through this node's whole app, as the page's
    client (its address counts for the sign-in limits)."""
    site: str = request.app.state.yui.settings.site
    client = request.client
    transport = httpx.ASGITransport(
        app=request.app,
        client=(client.host, client.port) if client else ("127.0.0.1", 0),
    )
    sent = dict(headers or {})
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    if "x-request-id" in request.headers:
        sent.setdefault("x-request-id", request.headers["x-request-id"])
    async with httpx.AsyncClient(transport=transport, base_url="http://console.internal") as http:
        response = await http.request(
            method,
            API_ROOT.format(tenant=tenant) + path,
            params={k: v for k, v in (params or {}).items() if v not in (None, "")},
            json=json,
            content=content,
            headers=sent,
        )
    body: Any = None
    if response.headers.get("content-type", "").split(";")[0].endswith("json"):
        body = response.json()
    return ApiAnswer(
        response.status_code, body, Served.from_headers(site, response.headers), response.headers
    )
