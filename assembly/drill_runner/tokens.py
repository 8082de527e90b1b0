"""Bearer tokens per tenant for a drill's requests, signed in at any live site."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from failover.drill.loadgen import SiteEndpoint

__all__ = ["TokenCache"]


@dataclass
class _Token:
    headers: dict[str, str]
    expires: float


class TokenCache:
    """A bearer token per tenant, signed in at any live site; renewed before it expires."""

    def __init__(
        self,
        sites: Sequence[SiteEndpoint],
        credentials: Mapping[str, tuple[str, str]],
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.sites = tuple(sites)
        self.credentials = dict(credentials)
        self.verify = verify
        self._tokens: dict[str, _Token] = {}

    async def sign_in(self, tenant: str) -> _Token | None:
        username, password = self.credentials[tenant]
        async with httpx.AsyncClient(timeout=3.0, trust_env=False, verify=self.verify) as client:
            for site in self.sites:
                try:
                    response = await client.post(
                        f"{site.url}/api/v1/{tenant}/auth/token",
                        json={"username": username, "password": password},
                    )
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    body = response.json()
                    return _Token(
                        {"Authorization": f"Bearer {body['access_token']}"},
                        time.time() + float(body.get("expires_in", 900)),
                    )
        return None

    async def prefetch(self, tenants: Sequence[str]) -> list[str]:
        """Sign in for each tenant now; returns the tenants that could not sign in."""
        failed = []
        for tenant in tenants:
            token = await self.sign_in(tenant) if tenant in self.credentials else None
            if token is None:
                failed.append(tenant)
            else:
                self._tokens[tenant] = token
        return failed

    async def headers(self, tenant: str) -> Mapping[str, str]:
        token = self._tokens.get(tenant)
        if tenant in self.credentials and (token is None or token.expires - time.time() < 120):
            fresh = await self.sign_in(tenant)
            if fresh is not None:
                self._tokens[tenant] = token = fresh
        return token.headers if token is not None else {}
