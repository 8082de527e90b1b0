"""Bearer tokens per tenant for a drill's requests, signed in at any live site."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from failover.drill.loadgen import SiteEndpoint

__all__ = ["TokenCache"]

#: a token this close to its expiry is renewed (seconds)
RENEW_BEFORE = 120.0
#: after a sign-in that failed at every site, the next one waits this long (seconds)
SIGN_IN_RETRY = 1.0
#: how long a drill's first sign-in keeps trying before it counts the tenant unwritable
#: (seconds): a drill started right after another one's fault meets a primary that refuses
#: writes (a sign-in is one: its audit entry) until its in-sync set has a copy again
PREFETCH_PATIENCE = 20.0


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
        #: one sign-in at a time per tenant, shared by every attempt that needs it
        self._signing: dict[str, asyncio.Lock] = {}
        #: tenant → time.monotonic() before which a failed sign-in is not tried again
        self._retry_at: dict[str, float] = {}

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

    async def prefetch(
        self, tenants: Sequence[str], patience: float = PREFETCH_PATIENCE
    ) -> list[str]:
        """Sign in for each tenant now, trying again every ``SIGN_IN_RETRY`` seconds for up
        to ``patience``; returns the tenants that could not sign in."""
        pending = [t for t in tenants if t in self.credentials]
        deadline = time.monotonic() + patience
        while True:
            for tenant in list(pending):
                token = await self.sign_in(tenant)
                if token is not None:
                    self._tokens[tenant] = token
                    pending.remove(tenant)
            if not pending or time.monotonic() + SIGN_IN_RETRY > deadline:
                break
            await asyncio.sleep(SIGN_IN_RETRY)
        return [t for t in tenants if t not in self._tokens]

    async def headers(self, tenant: str) -> Mapping[str, str]:
        """The tenant's token, signing in when there is none or it is due for renewal.

        Every write attempt of the load asks: one sign-in serves them all. Attempts that
        still hold a valid token use it while another renews it; a sign-in that failed
        everywhere is not tried again for SIGN_IN_RETRY. (Each attempt used to sign in on
        its own: at a renewal under load, ~100 sign-ins at once filled a site's worker
        threads for two minutes — docs/drills.md, "サインインの殺到".)"""
        token = self._tokens.get(tenant)
        if tenant not in self.credentials or not _due(token):
            return token.headers if token is not None else {}
        signing = self._signing.setdefault(tenant, asyncio.Lock())
        if signing.locked() and token is not None and token.expires > time.time():
            return token.headers
        async with signing:
            token = self._tokens.get(tenant)
            if _due(token) and time.monotonic() >= self._retry_at.get(tenant, 0.0):
                fresh = await self.sign_in(tenant)
                if fresh is not None:
                    self._tokens[tenant] = token = fresh
                else:
                    self._retry_at[tenant] = time.monotonic() + SIGN_IN_RETRY
        return token.headers if token is not None else {}


def _due(token: _Token | None) -> bool:
    return token is None or token.expires - time.time() < RENEW_BEFORE
