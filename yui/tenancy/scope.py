"""Tenant isolation, enforced here and nowhere else.

Every ORM query of a `TenantScoped` class gets `tenant_id = <tenant in scope>`
added (a query that forgets the tenant cannot see another tenant's rows); every
write of such a row is checked against the tenant in scope before it is flushed.
A session with no tenant in scope sees no tenant rows at all (fail closed), unless
its unit of work asks for all tenants explicitly (`all_tenants`, used by platform
tooling only). Both read the session's transaction context.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import event, false
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.util import LoaderCriteriaOption

from yui.db.base import TenantScoped
from yui.db.context import context_of
from yui.errors import TenantScopeError


def tenant_in_scope(session: Session) -> str | None:
    return context_of(session).tenant


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    return any(
        isinstance(mapper.class_, type) and issubclass(mapper.class_, TenantScoped)
        for mapper in state.all_mappers
    )


@lru_cache(maxsize=4096)
def _tenant_criteria(tenant: str | None) -> LoaderCriteriaOption:
    """The option that scopes a statement to `tenant`, built once per tenant: building it
    for every ORM statement (its lambda analysed again) was a tenth of a report's CPU. The
    option is immutable; the tenant is its lambda's closure value, bound per statement."""
    if tenant is None:
        criteria: Any = lambda cls: false()  # noqa: E731 - fail closed
    else:
        criteria = lambda cls: cls.tenant_id == tenant  # noqa: E731
    return with_loader_criteria(
        TenantScoped, criteria, include_aliases=True, track_closure_variables=True
    )


def install(session_class: type[Session]) -> None:
    @event.listens_for(session_class, "do_orm_execute")
    def _scope_statement(state: ORMExecuteState) -> None:
        context = context_of(state.session)
        if context.all_tenants:
            return
        if not (state.is_select or state.is_update or state.is_delete):
            return
        bulk_write = state.is_update or state.is_delete
        if bulk_write and not context.applying and _touches_tenant_rows(state):
            # Bulk statements bypass change capture; services change rows as objects.
            raise TenantScopeError("bulk UPDATE/DELETE of tenant rows is not allowed")
        state.statement = state.statement.options(_tenant_criteria(context.tenant))

    @event.listens_for(session_class, "before_flush")
    def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
        context = context_of(session)
        if context.all_tenants or context.applying:
            return
        tenant = context.tenant
        for obj in session.new:
            if not isinstance(obj, TenantScoped):
                continue
            if tenant is None:
                raise TenantScopeError(f"no tenant in scope to write {type(obj).__name__}")
            if obj.tenant_id is None:
                obj.tenant_id = tenant
            elif obj.tenant_id != tenant:
                raise TenantScopeError(
                    f"{type(obj).__name__} of tenant {obj.tenant_id} written in {tenant}"
                )
        for obj in (*session.dirty, *session.deleted):
            if isinstance(obj, TenantScoped) and obj.tenant_id != tenant:
                raise TenantScopeError(
                    f"{type(obj).__name__} of tenant {obj.tenant_id} changed in {tenant}"
                )
