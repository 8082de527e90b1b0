"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yui.audit.models import AuditEntry, AuditHead
from yui.changelog.encoding import to_json
from yui.errors import TenantScopeError
from yui.tenancy.scope import tenant_in_scope

GENESIS = "0" * 64


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(
        to_json(fields), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _fields(entry: AuditEntry) -> dict[str, Any]:
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)  # SQLite drops tz
    return {
        "tenant_id": entry.tenant_id,
        "n": entry.n,
        "at": at.astimezone(UTC).isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "detail": entry.detail,
    }


#: where a session keeps the audit head its current transaction has locked
_HELD = "yui.audit.held_head"


def _locked_head(session: Session, tenant: str) -> AuditHead:
    """The tenant's audit head, locked for this transaction. Read (and locked) once per
    transaction: a second entry of the same transaction (a report and the registry's
    lookup it made) continues from the head it holds, and the head is written once."""
    held = session.info.get(_HELD)
    if held is not None and held[0] is session.get_transaction() and held[1].tenant_id == tenant:
        return held[1]  # type: ignore[no-any-return]
    head = session.execute(
        select(AuditHead)
        .where(AuditHead.tenant_id == tenant)
        .with_for_update()
        # the row as locked now, not a copy an earlier transaction of this session loaded
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(tenant_id=tenant, n=0, hash=GENESIS)
        session.add(head)
    session.info[_HELD] = (session.get_transaction(), head)
    return head


def _head_in_scope(session: Session) -> AuditHead:
    """The audit head of the tenant in scope, locked for this transaction."""
    tenant = tenant_in_scope(session)
    if tenant is None:
        raise TenantScopeError("audit needs a tenant in scope")
    return _locked_head(session, tenant)


def hold(session: Session) -> None:
    """Lock the tenant's audit head for this transaction now, before the work an entry
    recorded later will describe: writers that order themselves by it (safety
    confirmation's counts) then see that work whole, never half of it."""
    _head_in_scope(session)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the change it audits)."""
    head = _head_in_scope(session)
    entry = AuditEntry(
        tenant_id=head.tenant_id,
        n=head.n + 1,
        at=datetime.now(UTC).replace(microsecond=0),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(entry.prev_hash, _fields(entry))
    head.n, head.hash = entry.n, entry.hash
    session.add(entry)
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problem: str | None = None
    first_bad_n: int | None = None


def verify(session: Session) -> VerifyResult:
    """Walk the tenant's chain and report the first altered, inserted or deleted entry."""
    expected_n, prev_hash, count = 1, GENESIS, 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.n)).scalars():
        count += 1
        own_hash_ok = entry_hash(entry.prev_hash, _fields(entry)) == entry.hash
        if entry.n < expected_n:
            return VerifyResult(
                False, count, f"entry {entry.n} inserted (duplicate number)", entry.n
            )
        if entry.n > expected_n:
            return VerifyResult(
                False, count, f"entries {expected_n}..{entry.n - 1} deleted", expected_n
            )
        if not own_hash_ok:
            return VerifyResult(False, count, f"entry {entry.n} altered", entry.n)
        if entry.prev_hash != prev_hash:
            return VerifyResult(False, count, f"entry {entry.n} inserted (chain broken)", entry.n)
        expected_n, prev_hash = entry.n + 1, entry.hash
    head = session.execute(select(AuditHead)).scalar_one_or_none()
    if head is not None and (head.n != expected_n - 1 or head.hash != prev_hash):
        if head.n > expected_n - 1:
            return VerifyResult(False, count, f"entries {expected_n}..{head.n} deleted", expected_n)
        return VerifyResult(
            False, count, "audit head does not match the last entry", expected_n - 1
        )
    return VerifyResult(True, count)
