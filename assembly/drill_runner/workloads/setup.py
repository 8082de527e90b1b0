"""Preparing a service workload: a staff account per tenant, made by its admin, and the
workload's own preparation (a campaign, places) through the API."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.tokens import TokenCache
from failover.drill.loadgen import AuthHeaders, SiteEndpoint

__all__ = ["Reachable", "StaffClient"]

#: answers after which a preparing request is tried at the next site
_RETRY = frozenset({408, 421, 425, 429, 500, 502, 503, 504})


class Reachable(Protocol):
    """What the preparation reads of the drill's environment (a `DrillEnvironment`)."""

    @property
    def sites(self) -> tuple[SiteEndpoint, ...]: ...

    @property
    def auth(self) -> AuthHeaders | None: ...

    @property
    def verify(self) -> ssl.SSLContext | bool: ...

    @property
    def mailboxes(self) -> tuple[Path, ...]: ...


class StaffClient:
    """Requests of the run's preparation at any site (the gateway forwards them to the
    tenant's primary), signed in as the tenant's admin, then as a staff account it made."""

    def __init__(self, env: Reachable, tag: str) -> None:
        if env.auth is None:
            raise CannotRun(
                "管理者としてサインインできません / the drill cannot sign in as the tenants' "
                "admin (no credentials)"
            )
        self.env = env
        self.username = f"drill-staff-{tag}"
        self.tokens = TokenCache(env.sites, {}, env.verify)

    async def request(
        self,
        tenant: str,
        method: str,
        path: str,
        *,
        expect: Sequence[int] = (200, 201),
        as_admin: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The JSON answer of ``method path`` (under /api/v1/{tenant}); CannotRun unless one
        of ``expect``."""
        auth = self.env.auth if as_admin else self.tokens.headers
        assert auth is not None
        url_path = f"/api/v1/{tenant}{path}"
        response, last = await self.answer(method, url_path, headers=await auth(tenant), **kwargs)
        if response is not None and response.status_code in expect:
            return response.json() if response.content else None
        raise CannotRun(
            f"訓練の準備に失敗しました（{method} {url_path}） / the drill's preparation failed "
            f"({method} {url_path}): {last}"
        )

    async def answer(
        self,
        method: str,
        url_path: str,
        *,
        headers: Mapping[str, str],
        first: int = 0,
        rounds: int = 1,
        **kwargs: Any,
    ) -> tuple[httpx.Response | None, str]:
        """The first answer not worth trying elsewhere, asking each site in turn from
        ``sites[first]`` (``rounds`` times, a second apart); else None and the last failure."""
        sites = self.env.sites
        last = "no site answered"
        async with httpx.AsyncClient(
            timeout=10.0, trust_env=False, verify=self.env.verify
        ) as client:
            for number in range(rounds * len(sites)):
                if number and number % len(sites) == 0:
                    await asyncio.sleep(1.0)
                site = sites[(first + number) % len(sites)]
                try:
                    response = await client.request(
                        method, site.url.rstrip("/") + url_path, headers=headers, **kwargs
                    )
                except httpx.HTTPError as error:
                    last = f"{site.name}: {type(error).__name__}: {error}"
                    continue
                last = f"{site.name}: HTTP {response.status_code} {response.text[:300]}"
                if response.status_code not in _RETRY:
                    return response, last
        return None, last

    async def sign_in_staff(self, tenants: Sequence[str]) -> None:
        """A staff account per tenant, made by its admin (a new one for each run: its
        password is known to this run only), then signed in."""
        for tenant in tenants:
            password = secrets.token_urlsafe(18)
            await self.request(
                tenant,
                "POST",
                "/users",
                as_admin=True,
                json={
                    "username": self.username,
                    "password": password,
                    "roles": ["staff"],
                    "display_name": "訓練 / drill",
                },
            )
            self.tokens.credentials[tenant] = (self.username, password)
        failed = await self.tokens.prefetch(list(tenants))
        if failed:
            raise CannotRun(
                f"訓練用の職員としてサインインできません / the drill's staff account could not "
                f"sign in for {', '.join(failed)}"
            )
