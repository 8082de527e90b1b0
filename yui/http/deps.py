"""FastAPI dependencies every router shares: the site context, the tenant, the principal."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated

import anyio
from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from yui.auth.models import Role
from yui.auth.ratelimit import FailureLimiter
from yui.auth.service import AccountStates, Principal, principal_from_token
from yui.auth.tokens import SigningKeys
from yui.db.database import Database
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from yui.settings import Settings
from yui.tenancy.codes import validate_code
from yui.tenancy.service import KnownTenants


@dataclass
class SiteContext:
    settings: Settings
    db: Database
    limiter: FailureLimiter
    signing_key: bytes
    token_keys: SigningKeys = field(init=False)
    accounts: AccountStates = field(init=False)
    tenants: KnownTenants = field(init=False)

    def __post_init__(self) -> None:
        self.token_keys = SigningKeys(self.signing_key, self.settings.previous_signing_key())
        self.accounts = AccountStates(self.db, self.settings.token_account_check_seconds)
        self.tenants = KnownTenants(self.db)


async def site_context(request: Request) -> SiteContext:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request
    # for an attribute read
    context: SiteContext = request.app.state.yui
    return context


Context = Annotated[SiteContext, Depends(site_context)]


async def tenant_code(
    tenant: Annotated[
        str,
        Path(
            pattern=r"^[0-9]{6}$",
            description="全国地方公共団体コード (6 digits with check digit)",
            examples=["041009"],
        ),
    ],
    context: Context,
) -> str:
    """The tenant of the path: a valid code of a municipality this platform serves.
    async: a tenant already known costs no worker-thread hop (one per request)."""
    try:
        validate_code(tenant)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if not context.tenants.remembered(tenant):
        await anyio.to_thread.run_sync(context.tenants.require, tenant)  # 404 when unknown
    return tenant


Tenant = Annotated[str, Depends(tenant_code)]

_bearer = HTTPBearer(auto_error=False, description="token from POST /api/v1/{tenant}/auth/token")


def authenticated(
    tenant: Tenant,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    if credentials is None:
        raise NotAuthenticated("ログインしてください / a bearer token is required")
    principal = principal_from_token(
        credentials.credentials,
        context.token_keys,
        max_age_seconds=context.settings.token_ttl_seconds,
    )
    if principal.tenant != tenant:
        # Same answer as for a tenant that does not exist: nothing to learn from it.
        raise NotFound(f"テナント {tenant} はありません / no tenant {tenant}")
    context.accounts.check(principal)
    return principal


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through a principal holding any of `roles`, else 403."""

    def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.has_any(*roles):
            raise Forbidden(
                f"この操作には役割 {', '.join(roles)} が必要です / this needs one of the roles: "
                f"{', '.join(roles)}"
            )
        return principal

    return check


async def tenant_uow(tenant: Tenant, context: Context) -> AsyncIterator[UnitOfWork]:
    """A unit of work for the tenant of the path (the endpoint commits).

    Opened, and after a commit closed, on the event loop: neither talks to the database
    then (the endpoint's thread runs every statement), and a plain generator dependency
    cost a worker-thread hop each way. A transaction still open at the end (a read, an
    error) is rolled back in a worker thread as before, the way FastAPI closes a plain
    generator: shielded from the request's cancellation (a client gone must not leave the
    transaction, and SQLite's write lock, held) and with a thread limit of its own (the
    shared one may be full of requests waiting for the connection this gives back)."""
    uow = context.db.unit_of_work(tenant).__enter__()
    try:
        yield uow
    finally:
        if uow.in_transaction():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(uow.close, limiter=anyio.CapacityLimiter(1))
        else:
            uow.close()


#: closed when the endpoint returns, before the answer starts (scope "function"), not after
#: it is sent: a sync write's answer waits for its replicas (ReplicationAcks), and a read
#: after the commit (the supplies movements build their answer so) held SQLite's write lock
#: through that wait, so this site could not apply another tenant's entries whose primary
#: waited for them in turn (issue 11, docs/drills.md: copies 100 entries behind)
UoW = Annotated[UnitOfWork, Depends(tenant_uow, scope="function")]


_scraper = HTTPBearer(
    auto_error=False, scheme_name="MetricsToken", description="YUI_METRICS_TOKEN of the site"
)


def metrics_scraper(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_scraper)],
) -> None:
    """Lets through the scraper holding YUI_METRICS_TOKEN; refuses everyone when unset."""
    expected = context.settings.metrics_token
    if expected is None:
        raise Forbidden(
            "メトリクスは無効です（YUI_METRICS_TOKEN を設定してください） / metrics are off: "
            "set YUI_METRICS_TOKEN"
        )
    given = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        raise NotAuthenticated("メトリクスのトークンが必要です / the metrics token is required")
