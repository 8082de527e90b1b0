"""The unit of work: one transaction for one tenant. Every service write goes through it."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.orm import sessionmaker

from yui.changelog.capture import ON_LOGGED
from yui.db.engine import READ_ONLY
from yui.db.fencing import WRITE_GATE, WriteGate
from yui.db.session import YuiSession
from yui.tenancy.scope import ALL_TENANTS, TENANT


class UnitOfWork:
    """`with db.unit_of_work(tenant) as uow: …; uow.commit()` — rolled back unless committed."""

    def __init__(
        self,
        factory: sessionmaker[YuiSession],
        tenant: str | None,
        *,
        read_only: bool = False,
        all_tenants: bool = False,
        on_logged: list[Callable[[str, int], None]] | None = None,
        write_gate: WriteGate | None = None,
    ) -> None:
        self._factory = factory
        self.tenant = tenant
        self.read_only = read_only
        self.all_tenants = all_tenants
        self._on_logged = on_logged or []
        self._write_gate = write_gate
        self._session: YuiSession | None = None

    @property
    def session(self) -> YuiSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._session

    def __enter__(self) -> Self:
        session = self._factory()
        session.info[TENANT] = self.tenant
        session.info[ALL_TENANTS] = self.all_tenants
        session.info[ON_LOGGED] = self._on_logged
        session.info[WRITE_GATE] = self._write_gate
        if self.read_only:
            session.connection(execution_options={READ_ONLY: True})
        self._session = session
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        # close() rolls back what was not committed but keeps loaded objects readable.
        session.close()

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
