"""Change capture: every committed change of a tenant's row goes to its change log.

Mapper events record each INSERT / UPDATE / DELETE of a `TenantScoped` row in the
order the flush executes them; `before_commit` flushes, takes the next seqs from
the tenant's log head and appends the entries in the same transaction. A rolled
back transaction therefore leaves no entry, and services write no replication code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, inspect, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session, object_session

from yui.changelog.encoding import to_json
from yui.changelog.models import ChangeLogEntry, LogHead
from yui.db.base import TenantScoped
from yui.errors import TenantScopeError

PENDING = "yui_pending_changes"
#: set on a session that applies shipped entries: it must not log them again
APPLYING = "yui_applying"
#: callbacks run after a commit that logged entries: (tenant, last_seq)
ON_LOGGED = "yui_on_logged"


@dataclass(frozen=True, slots=True)
class Change:
    tenant_id: str
    table_name: str
    op: str
    pk: dict[str, Any]
    row: dict[str, Any] | None


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
    if session is None or session.info.get(APPLYING):
        return
    session.info.setdefault(PENDING, []).append(change)


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


def append_to_log(session: Session) -> None:
    """Write the pending changes to the change log, inside the session's transaction."""
    session.flush()
    changes: list[Change] = session.info.pop(PENDING, [])
    if not changes:
        return
    tenants = {change.tenant_id for change in changes}
    if len(tenants) != 1:
        raise TenantScopeError(
            f"one transaction changed rows of several tenants: {sorted(tenants)}"
        )
    (tenant,) = tenants
    head = session.execute(
        update(LogHead)
        .where(LogHead.tenant_id == tenant)
        .values(last_seq=LogHead.last_seq + len(changes))
        .returning(LogHead.last_seq, LogHead.epoch)
    ).one_or_none()
    if head is None:
        session.execute(insert(LogHead).values(tenant_id=tenant, last_seq=len(changes), epoch=0))
        last_seq, epoch = len(changes), 0
    else:
        last_seq, epoch = head
    first = last_seq - len(changes) + 1
    now = datetime.now(UTC)
    session.execute(
        insert(ChangeLogEntry),
        [
            {
                "tenant_id": tenant,
                "seq": first + index,
                "epoch": epoch,
                "tx_seq": first,
                "table_name": change.table_name,
                "op": change.op,
                "pk": change.pk,
                "row": change.row,
                "committed_at": now,
            }
            for index, change in enumerate(changes)
        ],
    )
    session.info.setdefault("yui_logged", []).append((tenant, last_seq))


def install(session_class: type[Session]) -> None:
    @event.listens_for(session_class, "before_commit")
    def _before_commit(session: Session) -> None:
        if not session.info.get(APPLYING):
            append_to_log(session)

    @event.listens_for(session_class, "after_commit")
    def _after_commit(session: Session) -> None:
        logged = session.info.pop("yui_logged", [])
        for callback in session.info.get(ON_LOGGED, []):
            for tenant, last_seq in logged:
                callback(tenant, last_seq)

    @event.listens_for(session_class, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(PENDING, None)
        session.info.pop("yui_logged", None)
