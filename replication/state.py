"""Reading and updating one tenant's copy state inside a transaction.

The state spans two rows: the kernel's log head (the last seq logged here, and the
epoch this site writes with) and replication's own row. Both are locked together for
an update: on PostgreSQL by SELECT … FOR UPDATE, on SQLite by the write transaction
every unit of work opens with BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from sqlalchemy import BindParameter, Connection, bindparam, select, update
from sqlalchemy.orm import Session

from replication.history import History, epoch_at
from replication.models import ReplicationState
from replication.sql import insert_ignore, table_of
from yui.changelog.models import ChangeLogEntry, LogHead
from yui.db.database import Database

_STATE = table_of(ReplicationState)
_HEADS = table_of(LogHead)
_LOG = table_of(ChangeLogEntry)

# The statements of every batch a replica takes, built once: building a statement and its
# cache key again on each call cost a replica about as much CPU as running it.
_TENANT: BindParameter[str] = bindparam("copy_tenant")
_HEAD_QUERY = select(_HEADS.c.last_seq, _HEADS.c.epoch).where(_HEADS.c.tenant_id == _TENANT)
_HEAD_QUERY_LOCKED = _HEAD_QUERY.with_for_update()
_STATE_QUERY = select(_STATE).where(_STATE.c.tenant_id == _TENANT)
_STATE_QUERY_LOCKED = _STATE_QUERY.with_for_update()
_HEAD_EPOCH_QUERY = select(_LOG.c.epoch).where(
    _LOG.c.tenant_id == _TENANT, _LOG.c.seq == bindparam("copy_head")
)
# executed with the columns' values as parameters (the SET clause follows their keys)
_SAVE_STATE = update(_STATE).where(_STATE.c.tenant_id == _TENANT)
_SAVE_HEAD = update(_HEADS).where(_HEADS.c.tenant_id == _TENANT)


@dataclass
class CopyState:
    tenant: str
    #: the kernel's log head: the last seq logged here, and the epoch this site writes in
    head: int = 0
    write_epoch: int = 0
    role: str = "replica"
    sealed_epoch: int = 0
    applied_seq: int = 0
    complete_seq: int = 0
    log_start: int = 1
    snapshot_seq: int | None = None
    epochs: History = field(default_factory=list)
    source_site: str | None = None
    primary_seq: int = 0
    applied_at: datetime | None = None
    truncate_below: int = 0
    stalled: str | None = None

    #: (seq, epoch) of the last entry this log really held when the state was read (None:
    #: not in the log, i.e. truncated or below a snapshot); not saved
    logged_head: tuple[int, int] | None = None

    @property
    def head_epoch(self) -> int:
        """The epoch of the last entry held: the entry's own where the log holds it (a
        write logged here outside the epoch history must not pass for the primary's)."""
        if self.logged_head is not None and self.logged_head[0] == self.head:
            return self.logged_head[1]
        return epoch_at(self.epochs, self.head)

    def epoch_at(self, seq: int) -> int:
        return epoch_at(self.epochs, seq)


_STATE_FIELDS = [
    f.name
    for f in fields(CopyState)
    if f.name not in ("tenant", "head", "write_epoch", "logged_head")
]


def read(connection: Connection, tenant: str, *, lock: bool = False) -> CopyState:
    """The tenant's copy state; rows are created when missing only under ``lock``."""
    return _read(connection, tenant, lock=lock)[0]


def read_saved(connection: Connection, tenant: str) -> CopyState | None:
    """The tenant's copy state as saved, without locking; None when it has no state row
    yet (then only a locked `read` can tell what it should be)."""
    state, saved = _read(connection, tenant, lock=False)
    return state if saved else None


def _read(connection: Connection, tenant: str, *, lock: bool) -> tuple[CopyState, bool]:
    head_query, state_query = _HEAD_QUERY, _STATE_QUERY
    if lock and connection.dialect.name == "postgresql":
        head_query, state_query = _HEAD_QUERY_LOCKED, _STATE_QUERY_LOCKED
    key = {"copy_tenant": tenant}
    head_row = connection.execute(head_query, key).one_or_none()
    if head_row is None and lock:
        insert_ignore(connection, _HEADS, {"tenant_id": tenant, "last_seq": 0, "epoch": 0})
        head_row = connection.execute(head_query, key).one()
    head, write_epoch = (int(head_row[0]), int(head_row[1])) if head_row else (0, 0)
    row = connection.execute(state_query, key).mappings().one_or_none()
    if row is None and lock:
        # A site that logged entries with no state row wrote them itself: all applied.
        insert_ignore(
            connection,
            _STATE,
            {
                "tenant_id": tenant,
                "role": "primary" if head else "replica",
                "sealed_epoch": write_epoch,
                "applied_seq": head,
                "complete_seq": head,
                "log_start": 1,
                "epochs": [[write_epoch, 1]] if head and write_epoch else [],
                "primary_seq": head,
                "truncate_below": 0,
            },
        )
        row = connection.execute(state_query, key).mappings().one()
        if row["role"] == "replica":  # a new copy: its log is fed by the primary from now on
            connection.execute(
                update(_HEADS).where(_HEADS.c.tenant_id == tenant).values(replica=True)
            )
    state = CopyState(tenant=tenant, head=head, write_epoch=write_epoch)
    if head:
        logged = connection.execute(
            _HEAD_EPOCH_QUERY, {"copy_tenant": tenant, "copy_head": head}
        ).scalar()
        state.logged_head = None if logged is None else (head, int(logged))
    if row is None:  # nothing here yet, or a primary that never replicated
        state.role = "primary" if head else "replica"
        state.applied_seq = state.complete_seq = head
        state.sealed_epoch = write_epoch
        return state, False
    for name in _STATE_FIELDS:
        setattr(state, name, row[name])
    state.epochs = [list(pair) for pair in (row["epochs"] or [])]
    if state.role == "primary":  # a primary applies what it writes as it writes it
        state.applied_seq = state.complete_seq = head
    return state, True


def save(connection: Connection, state: CopyState) -> None:
    values = {name: getattr(state, name) for name in _STATE_FIELDS}
    values["updated_at"] = datetime.now(UTC)
    connection.execute(_SAVE_STATE, {"copy_tenant": state.tenant, **values})
    connection.execute(
        _SAVE_HEAD,
        {
            "copy_tenant": state.tenant,
            "last_seq": state.head,
            "epoch": state.write_epoch,
            "replica": state.role == "replica",
        },
    )


@contextmanager
def applying(db: Database, tenant: str) -> Iterator[tuple[Session, Connection]]:
    """A write transaction that applies shipped work (`Database.applying_as_replica`),
    with its connection. The caller commits; leaving without a commit rolls back."""
    with db.applying_as_replica(tenant) as uow:
        yield uow.session, uow.session.connection()


def holds_copy(connection: Connection, tenant: str) -> bool:
    """True when this site keeps replication state for the tenant (it holds, or held, a
    copy placed by the cluster: a primary, a replica, or a copy being seeded)."""
    found = connection.execute(select(_STATE.c.tenant_id).where(_STATE.c.tenant_id == tenant))
    return found.first() is not None


def log_heads(connection: Connection) -> dict[str, int]:
    """Every tenant's log head (the last seq logged here), in one read."""
    rows = connection.execute(select(_HEADS.c.tenant_id, _HEADS.c.last_seq))
    return {str(tenant): int(seq) for tenant, seq in rows}


def all_states(connection: Connection) -> list[CopyState]:
    tenants = {str(t) for t in connection.execute(select(_STATE.c.tenant_id)).scalars()} | {
        str(t) for t in connection.execute(select(_HEADS.c.tenant_id)).scalars()
    }
    return [read(connection, tenant) for tenant in sorted(tenants)]
