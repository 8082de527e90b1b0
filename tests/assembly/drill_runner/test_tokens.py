"""The drill's bearer tokens (assembly.drill_runner.tokens.TokenCache): every write attempt
of the load asks for its tenant's token, so a sign-in must be shared.

Before: when the token was missing or due for renewal, every attempt signed in on its
own, each walking the sites with a 3 s timeout and leaving its request running at the
site when it gave up. In the soak of 2026-12-07 (one cache for the whole soak, 900 s
tokens) the renewal 13 minutes in became ~100 sign-ins in flight at one replica site:
its worker threads were taken for two minutes, its replication status answered in
56–59 s, and its copy was left behind (docs/drills.md, "サインインの殺到")."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from assembly.drill_runner.tokens import TokenCache
from failover.drill.loadgen import SiteEndpoint
from tests.support.servers import serving

TENANT = "041009"
CALLERS = 40

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class SignInSite:
    """A site's sign-in endpoint that counts the sign-ins it gets and takes a moment."""

    expires_in: int = 900
    status: int = 200
    seconds: float = 0.2
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/v1/{tenant}/auth/token")
        async def sign_in(tenant: str) -> JSONResponse:
            with self.lock:
                self.calls += 1
                number = self.calls
            await asyncio.sleep(self.seconds)
            if self.status != 200:
                return JSONResponse({"title": "busy"}, status_code=self.status)
            body = {"access_token": f"t{number}", "expires_in": self.expires_in}
            return JSONResponse(body)

        return app


@pytest.fixture
def site() -> Iterator[tuple[SignInSite, list[SiteEndpoint]]]:
    stand_in = SignInSite()
    with serving(stand_in.app()) as url:
        yield stand_in, [SiteEndpoint("site-a", url)]


async def _ask_together(tokens: TokenCache) -> list[dict[str, str]]:
    return [
        dict(h) for h in await asyncio.gather(*(tokens.headers(TENANT) for _ in range(CALLERS)))
    ]


async def test_attempts_without_a_token_share_one_sign_in(
    site: tuple[SignInSite, list[SiteEndpoint]],
) -> None:
    stand_in, sites = site
    tokens = TokenCache(sites, {TENANT: ("drill", "secret")})

    answers = await _ask_together(tokens)

    assert stand_in.calls == 1
    assert answers == [{"Authorization": "Bearer t1"}] * CALLERS


async def test_a_renewal_is_one_sign_in_and_holds_no_attempt_up(
    site: tuple[SignInSite, list[SiteEndpoint]],
) -> None:
    stand_in, sites = site
    stand_in.expires_in = 100  # inside the renewal window (120 s before expiry) at once
    tokens = TokenCache(sites, {TENANT: ("drill", "secret")})
    assert await tokens.prefetch([TENANT]) == []
    stand_in.seconds, stand_in.expires_in = 1.0, 900

    answers = await _ask_together(tokens)

    assert stand_in.calls == 2  # the prefetch and one renewal
    # the token still valid is used while the renewal runs: no attempt waits for it
    # (it would get the new one) but the one that renews
    assert answers.count({"Authorization": "Bearer t1"}) == CALLERS - 1
    assert await tokens.headers(TENANT) == {"Authorization": "Bearer t2"}


async def test_a_failed_sign_in_is_not_repeated_by_every_attempt(
    site: tuple[SignInSite, list[SiteEndpoint]],
) -> None:
    stand_in, sites = site
    stand_in.status = 503
    tokens = TokenCache(sites, {TENANT: ("drill", "secret")})

    answers = await _ask_together(tokens)

    assert stand_in.calls == 1
    assert answers == [{}] * CALLERS  # no token: the site answers 401, the write is refused
    await asyncio.sleep(1.1)  # after a pause a new attempt may try again
    stand_in.status = 200
    assert await tokens.headers(TENANT) == {"Authorization": "Bearer t2"}
    assert stand_in.calls == 2


async def test_the_first_sign_in_waits_out_a_primary_that_refuses_writes_for_a_moment(
    site: tuple[SignInSite, list[SiteEndpoint]],
) -> None:
    """A drill started right after another one's fault (bench/failover.py: a switchover
    after three site-kills) found every sign-in refused for a few seconds (503: the new
    primary's in-sync set had no copy yet), counted both tenants unwritable and could not
    run. The first sign-in now tries again for a while."""
    stand_in, sites = site
    stand_in.status, stand_in.seconds = 503, 0.0
    tokens = TokenCache(sites, {TENANT: ("drill", "secret")})

    async def heal() -> None:
        await asyncio.sleep(1.5)
        stand_in.status = 200

    healing = asyncio.create_task(heal())
    assert await tokens.prefetch([TENANT, "271004"], patience=10.0) == ["271004"]
    await healing
    assert stand_in.calls >= 2
    assert (await tokens.headers(TENANT))["Authorization"].startswith("Bearer t")


async def test_the_first_sign_in_gives_up_after_its_patience(
    site: tuple[SignInSite, list[SiteEndpoint]],
) -> None:
    stand_in, sites = site
    stand_in.status, stand_in.seconds = 503, 0.0
    tokens = TokenCache(sites, {TENANT: ("drill", "secret")})
    assert await tokens.prefetch([TENANT], patience=2.5) == [TENANT]
    assert 2 <= stand_in.calls <= 4
