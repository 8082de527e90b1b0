"""The unit of work: one transaction for one tenant. Every service write goes through it.

Its commit runs `WRITE_HOOKS` in this order, each by a plain call (`YuiSession.commit`):
1. `fencing.check_write_gate` — inside the transaction: is this site the tenant's
   primary now? A refusal raises before anything is logged;
2. `capture.append_to_log` — inside the transaction: the row changes the mapper events
   recorded go to the tenant's change log, with the next seqs and the current epoch;
3. the database commit;
4. `capture.notify_logged` — after it: the on-logged callbacks (replication's sender,
   the request's wait for its acknowledgements) learn the last seq committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from sqlalchemy.orm import sessionmaker

from yui.changelog.capture import append_to_log, notify_logged
from yui.db.context import (
    CommitHooks,
    OnLogged,
    TransactionContext,
    WriteGate,
    attach,
)
from yui.db.engine import READ_ONLY
from yui.db.fencing import check_write_gate
from yui.db.session import YuiSession

#: the commit of every unit of work that writes for a tenant: the fence before the
#: capture, so a refused commit logs nothing; both before the commit, so the log and
#: the rows commit together
WRITE_HOOKS = CommitHooks(
    before_commit=(check_write_gate, append_to_log), after_commit=(notify_logged,)
)


class UnitOfWork:
    """`with db.unit_of_work(tenant) as uow: …; uow.commit()` — rolled back unless committed."""

    def __init__(
        self,
        factory: sessionmaker[YuiSession],
        tenant: str | None,
        *,
        read_only: bool = False,
        all_tenants: bool = False,
        on_logged: Sequence[OnLogged] = (),
        write_gate: WriteGate | None = None,
        applying: bool = False,
    ) -> None:
        self._factory = factory
        self.read_only = read_only
        self._context = TransactionContext(
            tenant,
            all_tenants=all_tenants,
            applying=applying,
            write_gate=write_gate,
            on_logged=on_logged,
            # applied entries are logged as they came and fenced by the seal, not here
            hooks=CommitHooks() if applying else WRITE_HOOKS,
        )
        self._session: YuiSession | None = None

    @property
    def tenant(self) -> str | None:
        return self._context.tenant

    @property
    def session(self) -> YuiSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._session

    def __enter__(self) -> Self:
        session = self._factory()
        attach(session, self._context)
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
        self.close()

    def close(self) -> None:
        session, self._session = self.session, None
        # close() rolls back what was not committed but keeps loaded objects readable.
        session.close()

    def in_transaction(self) -> bool:
        """Whether closing now talks to the database (a transaction is open, to roll back).
        A session takes its connection at its first statement and gives it back when it
        commits: before that and after a commit, closing is in memory only."""
        return self._session is not None and self._session.in_transaction()

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.session.commit()  # runs the hooks above, in their order

    def rollback(self) -> None:
        self.session.rollback()
