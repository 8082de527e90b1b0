"""The transaction context: everything the write path knows about one session, typed.

A unit of work attaches one `TransactionContext` to its session (one slot of
`session.info`); tenancy, the write fence, change capture and the commit read and write
it through its attributes, never through keys of their own. What one database
transaction did so far (the changes recorded by the mapper events, the seqs it took)
lives in `TransactionContext.transaction` and is replaced when that transaction ends,
however it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

#: called with the tenant before a commit that changes its rows; raises to refuse
WriteGate = Callable[[str], None]
#: a change-log row as change capture inserted it: column name -> the very value bound
LogRow = Mapping[str, Any]
#: called after each commit that logged entries, with (tenant, last seq logged, the rows
#: change capture inserted in seq order — possibly not all the transaction logged, or none)
OnLogged = Callable[[str, int, Sequence[LogRow]], None]

_SLOT = "yui_transaction_context"


@dataclass(frozen=True, slots=True)
class Change:
    """One row change of a tenant's table, recorded when the flush executes it."""

    tenant_id: str
    table_name: str
    op: str
    pk: dict[str, Any]
    row: dict[str, Any] | None


@dataclass(slots=True)
class TransactionState:
    """What the session's current database transaction has done so far."""

    #: row changes flushed but not yet appended to the change log, in flush order
    pending: list[Change] = field(default_factory=list)
    #: (tenant, first seq) of the transaction's first append; later appends reuse both
    tx_seq: tuple[str, int] | None = None
    #: (tenant, last seq) appended to the log, for the after-commit hooks
    logged: list[tuple[str, int]] = field(default_factory=list)
    #: the log rows `append_to_log` inserted, in seq order: the objects bound to the INSERT,
    #: so what the after-commit hooks are given is what the log holds (a bulk insert's
    #: rows are not here: they may be millions)
    appended: list[LogRow] = field(default_factory=list)


#: a step of the commit that runs inside the transaction, before it commits; raises to refuse
BeforeCommit = Callable[[Session, "TransactionContext"], None]
#: a step that runs after the commit, given what the committed transaction did
AfterCommit = Callable[["TransactionContext", TransactionState], None]


@dataclass(frozen=True, slots=True)
class CommitHooks:
    """The ordered steps of a commit; `YuiSession.commit` runs them in this order."""

    before_commit: tuple[BeforeCommit, ...] = ()
    after_commit: tuple[AfterCommit, ...] = ()


@dataclass(slots=True)
class TransactionContext:
    """Who a session writes for, how its commits are checked, and what it did so far."""

    #: the tenant in scope (None: no tenant rows visible, none writable)
    tenant: str | None
    #: platform tooling that reads every tenant's rows (never writes through capture)
    all_tenants: bool = False
    #: the session applies shipped work (replication): no capture, no fence, no scope
    #: checks — its entries are logged as they came
    applying: bool = False
    #: asked before a commit that writes the tenant's rows (None: a lone site takes all)
    write_gate: WriteGate | None = None
    #: told after each commit that logged entries (replication wakes its sender here)
    on_logged: Sequence[OnLogged] = ()
    hooks: CommitHooks = CommitHooks()
    transaction: TransactionState = field(default_factory=TransactionState)


def attach(session: Session, context: TransactionContext) -> None:
    session.info[_SLOT] = context


def context_of(session: Session) -> TransactionContext:
    context = session.info.get(_SLOT)
    if not isinstance(context, TransactionContext):
        raise RuntimeError("a session used outside a unit of work (no transaction context)")
    return context


def install(session_class: type[Session]) -> None:
    @event.listens_for(session_class, "after_transaction_end")
    def _end(session: Session, transaction: SessionTransaction) -> None:
        # The outermost transaction ended, committed or rolled back: what it did is over.
        if transaction.parent is None:
            context = session.info.get(_SLOT)
            if isinstance(context, TransactionContext):
                context.transaction = TransactionState()
