"""The search across every municipality the platform serves, from any site.

People do not know where their family was when the quake hit, so one search asks every
municipality. The site asked does not answer for the others from what it holds: it
sends each municipality's part (`POST /api/v1/{tenant}/safety/search`) through its own
front door, the gateway, as the citizen's request (the citizen's address travels in
the signed forward mark). So each part

- runs at that municipality's primary, whichever site holds it (a tenant whose primary
  is this site is served here; a copy held here as a replica is not read, because the
  search writes its audit entry, which only the primary may write; a tenant this site
  holds nothing of is forwarded to its primary, as any request is);
- is counted against the citizen's limit at that primary and audited there;
- is routed by this site's view of the placements, never by anything the client says.

A municipality that cannot answer now (its primary unreachable or being replaced: the
gateway's 503, or this client's limit there) is listed as unavailable: the citizen is
told to search again, never told "not found" for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from fastapi import Request

from safety_check.search.schemas import Found, SearchIn, TenantAnswer
from safety_check.search.settings import SearchSettings
from yui.tenancy.service import list_tenants

#: the composition root may put a callable here on the app's state: every tenant code the
#: platform serves (the cluster's placements); without it, the tenants this site holds
PLATFORM_TENANTS = "platform_tenants"


def platform_tenants(request: Request) -> list[str]:
    known: Callable[[], list[str]] | None = getattr(request.app.state, PLATFORM_TENANTS, None)
    held = {tenant.tenant_id for tenant in list_tenants(request.app.state.yui.db)}
    return sorted(held | set(known() if known is not None else ()))


async def ask_every_tenant(
    request: Request, query: SearchIn, tenants: list[str], *, client: str
) -> tuple[list[Found], list[str]]:
    """Each municipality's answer, asked concurrently through this site's own app (and so
    its gateway); the matches found and the municipalities that could not answer."""
    settings = SearchSettings()
    transport = httpx.ASGITransport(app=request.app, client=(client, 0))
    gate = asyncio.Semaphore(settings.fanout_concurrency)
    body = query.model_dump(mode="json")

    async def ask(client_: httpx.AsyncClient, tenant: str) -> TenantAnswer | None:
        async with gate:
            try:
                # the in-process transport ignores httpx's timeouts: bound it here
                response = await asyncio.wait_for(
                    client_.post(f"/api/v1/{tenant}/safety/search", json=body),
                    settings.fanout_timeout_seconds,
                )
            except (httpx.HTTPError, TimeoutError):
                return None
        if response.status_code == 404:  # no longer served: nothing to search
            return TenantAnswer(tenant=tenant, municipality="", searching=False, matches=[])
        if response.status_code != 200:
            return None
        return TenantAnswer.model_validate(response.json())

    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as inner:
        answers = await asyncio.gather(*(ask(inner, tenant) for tenant in tenants))
    found = [
        Found(tenant=answer.tenant, municipality=answer.municipality, matches=answer.matches)
        for answer in answers
        if answer is not None and answer.matches
    ]
    unavailable = [
        tenant for tenant, answer in zip(tenants, answers, strict=True) if answer is None
    ]
    return found, unavailable
