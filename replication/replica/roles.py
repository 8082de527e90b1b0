"""A copy's role changes: sealing an epoch, becoming the primary.

The failover controller seals the in-sync replicas at the new epoch before it writes
the new placement (DESIGN.md, "Promotion" step 2); from then on they refuse batches
from a primary of a lower epoch, so a deposed primary can gather no acknowledgement.
The promoted site then calls `become_primary` before it takes a write (step 5).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import Connection, delete

from replication.entries import LOG, stream_range, writer_history
from replication.history import with_epoch
from replication.replica import quarantine
from replication.replica.batches import apply_pending
from replication.state import CopyState, applying, read, save
from yui.db.database import Database
from yui.errors import Conflict

log = logging.getLogger("yui.replication")


def seal(db: Database, tenant: str, epoch: int) -> CopyState:
    """Promise to refuse every batch from a primary of an epoch below ``epoch``
    (durable before this returns). A seal never goes down."""
    with applying(db, tenant) as (session, connection):
        state = _seal(connection, tenant, epoch)
        session.commit()
        return state


def seal_many(db: Database, epochs: Mapping[str, int]) -> dict[str, CopyState]:
    """:func:`seal` for many tenants in one transaction: one wait for the database's
    write lock instead of one per tenant (SQLite takes one writer at a time, and its
    busy wait sleeps between tries: an evacuation's seals one by one took seconds)."""
    if not epochs:
        return {}
    with applying(db, next(iter(epochs))) as (session, connection):
        states = {tenant: _seal(connection, tenant, epoch) for tenant, epoch in epochs.items()}
        session.commit()
        return states


def _seal(connection: Connection, tenant: str, epoch: int) -> CopyState:
    state = read(connection, tenant, lock=True)
    if epoch > state.sealed_epoch:
        state.sealed_epoch = epoch
        save(connection, state)
        log.info("tenant %s sealed at epoch %d (log at %d)", tenant, epoch, state.head)
    return state


def become_primary(db: Database, tenant: str, epoch: int, site: str) -> CopyState:
    """Make this copy the tenant's primary writing in ``epoch``.

    Every complete transaction is applied first; entries of a transaction whose end
    never arrived were never acknowledged (an acknowledgement waits for a
    transaction's last entry), so they are cut off the log into the quarantine. The
    log then continues from its head with the new epoch.
    """
    apply_pending(db, tenant)
    with applying(db, tenant) as (session, connection):
        state = read(connection, tenant, lock=True)
        if _already_primary(state, epoch):
            session.commit()
            return state
        if state.role == "replica" and state.head > state.applied_seq:
            tail = list(stream_range(connection, tenant, state.applied_seq + 1, state.head))
            quarantine.put(
                connection,
                tenant,
                tail,
                "incomplete",
                f"昇格時に未完了のトランザクション / an incomplete transaction at promotion to "
                f"epoch {epoch}: its last entries never arrived, so it was never acknowledged",
                state.source_site or site,
            )
            connection.execute(
                delete(LOG).where(LOG.c.tenant_id == tenant, LOG.c.seq > state.applied_seq)
            )
            state.head = state.complete_seq = state.applied_seq
        _take_role(connection, state, epoch, site)
        session.commit()
        return state


def become_primaries(
    db: Database, epochs: Mapping[str, int], site: str
) -> dict[str, CopyState | Conflict]:
    """:func:`become_primary` for many tenants. Those with nothing left to apply (the
    usual case in a planned move: an in-sync replica applies as it receives) change
    role in one transaction (one wait for the write lock, as :func:`seal_many`); the
    others go one by one through :func:`become_primary`. A tenant sealed above its
    epoch gets its :class:`Conflict`; the others are not affected."""
    answers: dict[str, CopyState | Conflict] = {}
    if epochs:
        with applying(db, next(iter(epochs))) as (session, connection):
            for tenant, epoch in epochs.items():
                state = read(connection, tenant, lock=True)
                if state.role == "replica" and state.head > state.applied_seq:
                    continue
                try:
                    if not _already_primary(state, epoch):
                        _take_role(connection, state, epoch, site)
                except Conflict as error:
                    answers[tenant] = error
                    continue
                answers[tenant] = state
            session.commit()
    for tenant, epoch in epochs.items():
        if tenant not in answers:
            try:
                answers[tenant] = become_primary(db, tenant, epoch, site)
            except Conflict as error:
                answers[tenant] = error
    return answers


def _already_primary(state: CopyState, epoch: int) -> bool:
    """True when this copy already writes in ``epoch``; a Conflict when it is sealed
    (or writes) above it. Nothing is changed."""
    if epoch < state.sealed_epoch or (state.role == "primary" and epoch < state.write_epoch):
        raise Conflict(
            f"テナント {state.tenant} は既にエポック {state.sealed_epoch} に封印されています / "
            f"tenant {state.tenant} is sealed at epoch {state.sealed_epoch}, above {epoch}"
        )
    return state.role == "primary" and state.write_epoch == epoch


def _take_role(connection: Connection, state: CopyState, epoch: int, site: str) -> None:
    """The log continues from its head in ``epoch``, written here."""
    state.epochs = with_epoch(writer_history(connection, state), epoch, state.head + 1)
    state.role = "primary"
    state.write_epoch = epoch
    state.sealed_epoch = max(state.sealed_epoch, epoch)
    state.source_site = site
    state.primary_seq = state.head
    save(connection, state)
    log.info(
        "tenant %s: this site is the primary in epoch %d from seq %d",
        state.tenant,
        epoch,
        state.head + 1,
    )
