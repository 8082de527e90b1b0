"""Change capture: every committed change of a tenant's row goes to its change log.

Mapper events record each INSERT / UPDATE / DELETE of a `TenantScoped` row in the
order the flush executes them, into the session's transaction context; the unit of
work's commit hooks then run `append_to_log` (flush, take the next seqs from the
tenant's log head, append the entries) inside the transaction being committed, and
`notify_logged` after it. A rolled back transaction therefore leaves no entry, and
services write no replication code.

A bulk INSERT (yui.changelog.bulk_insert.insert_rows, for imports) fires no mapper events;
it logs its rows itself, through `reserve_seqs`, possibly many times in one
transaction (so a million rows never sit in memory). Every reservation of a
transaction takes its seqs from the log head in order and tags its entries with the
transaction's first seq (`tx_seq`), so a replica still applies them as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, event, insert, inspect, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session, object_session

from yui.changelog.encoding import to_json
from yui.changelog.models import ChangeLogEntry, LogHead
from yui.db.base import TenantScoped
from yui.db.context import Change, TransactionContext, TransactionState, context_of
from yui.errors import TenantScopeError, Unavailable


def _columns(mapper: Mapper[Any], target: Any, only_changed: bool) -> dict[str, Any]:
    state = inspect(target)
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if only_changed and not state.attrs[prop.key].history.has_changes():
            continue
        values[column.name] = to_json(getattr(target, prop.key))
    return values


def _primary_key(mapper: Mapper[Any], target: Any) -> dict[str, Any]:
    return {
        column.name: to_json(getattr(target, mapper.get_property_by_column(column).key))
        for column in mapper.primary_key
    }


def _record(target: Any, change: Change) -> None:
    session = object_session(target)
    if session is None:
        return
    context = context_of(session)
    if not context.applying:  # applied entries are logged as they came
        context.transaction.pending.append(change)


def _table(mapper: Mapper[Any]) -> str:
    return str(mapper.local_table.name)  # type: ignore[attr-defined]


@event.listens_for(TenantScoped, "after_insert", propagate=True)
def _after_insert(mapper: Mapper[Any], _conn: Connection, target: Any) -> None:
    row = _columns(mapper, target, only_changed=False)
    _record(
        target,
        Change(target.tenant_id, _table(mapper), "insert", _primary_key(mapper, target), row),
    )


@event.listens_for(TenantScoped, "after_update", propagate=True)
def _after_update(mapper: Mapper[Any], _conn: Connection, target: Any) -> None:
    # Only the changed columns: a concurrent writer may have changed the others, and a
    # replica must end with the row the database holds, not this session's stale copy.
    changed = _columns(mapper, target, only_changed=True)
    if changed:
        _record(
            target,
            Change(
                target.tenant_id, _table(mapper), "update", _primary_key(mapper, target), changed
            ),
        )


@event.listens_for(TenantScoped, "after_delete", propagate=True)
def _after_delete(mapper: Mapper[Any], _conn: Connection, target: Any) -> None:
    _record(
        target,
        Change(target.tenant_id, _table(mapper), "delete", _primary_key(mapper, target), None),
    )


class ReplicaLog(Unavailable):
    """This site's copy of the tenant is a replica: its log is written by the primary
    alone. Refused at capture whatever the write gate said (the gate decides from the
    cluster view, which can be empty or stale; this decides from the copy itself)."""

    slug = "replica-copy"
    title = "このサイトの写しはレプリカです / This site's copy is a replica"


#: what a refused local write at a replica tells the client to wait (Retry-After)
REPLICA_RETRY_AFTER = 1


@dataclass(frozen=True, slots=True)
class Reservation:
    """Seqs first..last taken from a tenant's log head for entries of one transaction."""

    tenant: str
    first: int
    last: int
    epoch: int
    #: the first seq of the whole transaction (shared by every append it makes)
    tx_seq: int


_HEADS: Table = LogHead.__table__  # type: ignore[assignment]
_LOG: Table = ChangeLogEntry.__table__  # type: ignore[assignment]
# Built once and run as plain SQL on the session's connection: every write commits these
# two, and the ORM's bulk UPDATE (which also evaluates its WHERE against the session's
# objects) and bulk INSERT cost the primary more CPU than the statements themselves.
_RESERVE = (
    update(_HEADS)
    .where(_HEADS.c.tenant_id == bindparam("log_tenant"))
    .values(last_seq=_HEADS.c.last_seq + bindparam("log_count"))
    .returning(_HEADS.c.last_seq, _HEADS.c.epoch, _HEADS.c.replica)
)
_APPEND = insert(_LOG)


def reserve_seqs(session: Session, tenant: str, count: int) -> Reservation:
    """Take the next `count` seqs of `tenant`'s log, in the session's transaction.

    Every reservation of one transaction must be for the same tenant and shares the
    transaction's first seq as `tx_seq`. On PostgreSQL the log head's row stays locked
    until the transaction ends, so a tenant's commits follow their seqs.
    """
    transaction = context_of(session).transaction
    earlier = transaction.tx_seq
    if earlier is not None and earlier[0] != tenant:
        raise TenantScopeError(
            f"one transaction changed rows of several tenants: {sorted({earlier[0], tenant})}"
        )
    head = (
        session.connection()
        .execute(_RESERVE, {"log_tenant": tenant, "log_count": count})
        .one_or_none()
    )
    if head is None:
        session.execute(insert(LogHead).values(tenant_id=tenant, last_seq=count, epoch=0))
        last_seq, epoch = count, 0
    else:
        last_seq, epoch, replica = head
        if replica:  # the transaction is rolled back: nothing of it is kept
            raise ReplicaLog(
                f"このサイトのテナント {tenant} の写しはレプリカのため、書き込みは主系でのみ受け付けます。"
                f"{REPLICA_RETRY_AFTER} 秒後に再試行してください / this site's copy of tenant "
                f"{tenant} is a replica: only its primary writes it (nothing was written); "
                f"retry in {REPLICA_RETRY_AFTER} s",
                retry_after=REPLICA_RETRY_AFTER,
            )
    first = last_seq - count + 1
    if transaction.tx_seq is None:
        transaction.tx_seq = (tenant, first)
    tx_seq = transaction.tx_seq[1]
    logged = transaction.logged
    if logged and logged[-1][0] == tenant:
        logged[-1] = (tenant, last_seq)  # a later append of the same transaction
    else:
        logged.append((tenant, last_seq))
    return Reservation(tenant, first, last_seq, epoch, tx_seq)


def append_to_log(session: Session, context: TransactionContext) -> None:
    """Write the pending changes to the change log, inside the session's transaction.

    A commit hook (after the write fence); a bulk insert also calls it before its rows,
    so the session's earlier changes keep their place in the log."""
    session.flush()
    transaction = context.transaction
    changes, transaction.pending = transaction.pending, []
    if not changes:
        return
    tenants = {change.tenant_id for change in changes}
    if len(tenants) != 1:
        raise TenantScopeError(
            f"one transaction changed rows of several tenants: {sorted(tenants)}"
        )
    (tenant,) = tenants
    seqs = reserve_seqs(session, tenant, len(changes))
    now = datetime.now(UTC)
    rows = [
        {
            "tenant_id": tenant,
            "seq": seqs.first + index,
            "epoch": seqs.epoch,
            "tx_seq": seqs.tx_seq,
            "table_name": change.table_name,
            "op": change.op,
            "pk": change.pk,
            "row": change.row,
            "committed_at": now,
        }
        for index, change in enumerate(changes)
    ]
    session.connection().execute(_APPEND, rows)
    transaction.appended.extend(rows)  # the same objects: the log row is made from them


def notify_logged(context: TransactionContext, committed: TransactionState) -> None:
    """After the commit: tell each on-logged callback what the transaction logged, with
    the rows `append_to_log` inserted (a commit hook; the committing thread)."""
    for callback in context.on_logged:
        for tenant, last_seq in committed.logged:
            callback(tenant, last_seq, committed.appended)
