"""A replica takes a batch: check the sender's epoch against the seal, check the log
matches, append, apply whole transactions — all in ONE database transaction.

Outcomes (the ``status`` of the answer):
- ``ok``: the batch is logged (entries already held are skipped after checking they
  are the same entries); every complete transaction up to the hold is applied.
- ``gap``: the batch starts after this log's head; the sender resends from
  ``durable_seq`` + 1.
- ``fenced``: the sender's epoch is below the seal (or not above this site's own epoch
  as a primary); its new entries are quarantined.
- ``diverged``: this log holds an entry the sender's log does not (a deposed primary's
  unacknowledged write); the sender bootstraps this copy from a snapshot, which
  quarantines those entries.
- ``apply-failed``: an entry cannot be applied; nothing of the batch is kept, the
  entry is quarantined with the reason, and the sender retries later.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace

from sqlalchemy import Connection, insert

from replication.entries import LOG, LogEntry, logged_epochs, stream_range
from replication.history import extended
from replication.protocol.wire import Ack, AckStatus, Batch
from replication.replica import quarantine
from replication.replica.apply import ApplyError, apply_entries
from replication.sql import reading
from replication.state import CopyState, applying, read, read_saved, save
from yui.db.database import Database

log = logging.getLogger("yui.replication")


def answer(state: CopyState, status: AckStatus, detail: str | None = None) -> Ack:
    return Ack(
        status=status,
        durable_seq=state.head,
        durable_epoch=state.head_epoch,
        applied_seq=state.applied_seq,
        sealed_epoch=state.sealed_epoch,
        detail=detail,
    )


def _boundaries(batch: Batch) -> Iterator[int]:
    """Seqs of the batch at which a transaction ends."""
    entries = batch.entries
    for current, following in itertools.pairwise(entries):
        if following.tx_seq == following.seq:
            yield current.seq
    if entries and entries[0].tx_seq == entries[0].seq:
        yield batch.prev_seq
    if entries and batch.complete:
        yield entries[-1].seq


def _fence_reason(state: CopyState, batch: Batch, source: str) -> str | None:
    if batch.epoch < state.sealed_epoch:
        return (
            f"{source} のエポック {batch.epoch} は封印 {state.sealed_epoch} より古い / "
            f"{source} sent in epoch {batch.epoch}, below this copy's seal {state.sealed_epoch}: "
            "it is no longer the primary"
        )
    if state.role == "primary" and batch.epoch <= state.sealed_epoch:
        return (
            f"this site is the primary in epoch {state.sealed_epoch}; {source} sent in epoch "
            f"{batch.epoch}"
        )
    return None


def _divergence(connection: Connection, state: CopyState, batch: Batch) -> str | None:
    """Why this log cannot take the batch as it is, if it cannot: an entry this log
    holds differs from the sender's (compared by epoch: see replication.history).

    The epochs compared are those of the entries this log really holds at those seqs;
    the history only answers for seqs no longer in the log (truncated, or below a
    snapshot). A copy that logged a write of its own (epoch history unchanged) would
    otherwise take the primary's entries at the same seqs for ones it already holds,
    skip them, and stay in the in-sync set with other rows."""
    checks = [(batch.prev_seq, batch.prev_epoch)] if batch.prev_seq >= 1 else []
    checks += [(e.seq, e.epoch) for e in batch.entries]
    held: list[tuple[int, int]] = []
    for seq, epoch in checks:
        if epoch is None or seq > state.head:
            break
        held.append((seq, epoch))
    if not held:
        return None
    if held[0][0] == state.head and state.logged_head is not None:
        logged = dict([state.logged_head])  # the usual batch: it continues from our head
    else:
        logged = logged_epochs(connection, state.tenant, held[0][0], held[-1][0])
    for seq, epoch in held:
        here = logged.get(seq, state.epoch_at(seq))
        if here != epoch:
            return f"at seq {seq} this copy holds epoch {here}, the sender epoch {epoch}"
    return None


def receive_batch(
    db: Database, tenant: str, source: str, batch: Batch, hold: int | None = None
) -> Ack:
    """Take one batch; see the module's docstring for the outcomes."""
    if not batch.entries:
        ack = _heartbeat(db, tenant, source, batch, hold)
        if ack is not None:
            return ack
    try:
        return _receive(db, tenant, source, batch, hold, grouped=True)
    except ApplyError:
        pass
    # Find exactly which entry fails (one statement each), then keep it aside.
    try:
        return _receive(db, tenant, source, batch, hold, grouped=False)
    except ApplyError as error:
        return _stall(db, tenant, source, batch, error)


def _heartbeat(
    db: Database, tenant: str, source: str, batch: Batch, hold: int | None
) -> Ack | None:
    """The answer to an empty batch that would change nothing here, from a read alone.

    An idle stream sends one every few seconds; with a thousand tenants that is hundreds
    of write transactions a second at each replica, all queueing for SQLite's one write
    lock ahead of the seals and promotions of a failover. None when the batch would
    change the saved state (a newer epoch, another source, a higher primary seq or
    truncation floor, entries to apply): `_receive` takes it then, under the lock.
    """
    with reading(db.engine) as connection:
        state = read_saved(connection, tenant)
        if state is None:
            return None
        reason = _fence_reason(state, batch, source)
        if reason is not None:
            return answer(state, "fenced", reason)  # nothing offered, nothing to quarantine
        divergence = _divergence(connection, state, batch)
    if divergence is not None:
        return answer(state, "diverged", divergence)
    absorbed = replace(state)
    _absorb(absorbed, batch, source)
    if absorbed != state:
        return None
    if batch.prev_seq > state.head:
        return answer(state, "gap", f"this copy holds up to {state.head}")
    target = _apply_target(state, hold)
    if target > state.applied_seq:
        return None  # logged entries wait to be applied (a hold was released)
    return answer(state, "ok")


def _absorb(state: CopyState, batch: Batch, source: str) -> None:
    """What any batch that is not refused tells this copy, entries aside."""
    if batch.epoch > state.sealed_epoch:  # a newer primary: nothing older gets in now
        state.sealed_epoch = batch.epoch
    if state.role == "primary":  # deposed: what it wrote itself is all applied
        state.role = "replica"
    state.source_site = source
    state.primary_seq = max(state.primary_seq, batch.primary_seq)
    state.truncate_below = max(state.truncate_below, batch.truncate_below)


def _receive(
    db: Database, tenant: str, source: str, batch: Batch, hold: int | None, *, grouped: bool
) -> Ack:
    with applying(db, tenant) as (session, connection):
        state = read(connection, tenant, lock=True)
        reason = _fence_reason(state, batch, source)
        if reason is not None:
            offered = [
                LogEntry.from_wire(e)
                for e in batch.entries
                if e.seq > state.head or state.epoch_at(e.seq) != e.epoch
            ]
            if offered:
                quarantine.put(connection, tenant, offered, "fenced", reason, source)
                log.warning(
                    "tenant %s: %d entries of %s quarantined: %s",
                    tenant,
                    len(offered),
                    source,
                    reason,
                )
            session.commit()
            return answer(state, "fenced", reason)

        divergence = _divergence(connection, state, batch)
        if divergence is not None:
            session.rollback()
            return answer(state, "diverged", divergence)
        _absorb(state, batch, source)
        if batch.prev_seq > state.head:
            save(connection, state)
            session.commit()
            return answer(state, "gap", f"this copy holds up to {state.head}")

        new = [LogEntry.from_wire(e) for e in batch.entries if e.seq > state.head]
        first_new = new[0].seq if new else state.head + 1
        if new:
            connection.execute(insert(LOG), [entry.log_row(tenant) for entry in new])
            state.epochs = extended(state.epochs, ((e.seq, e.epoch) for e in new))
            state.head = new[-1].seq
        state.complete_seq = max(
            [state.complete_seq, *(b for b in _boundaries(batch) if b <= state.head)]
        )
        _apply_up_to(connection, state, new, first_new, hold, grouped=grouped)
        save(connection, state)
        session.commit()
        return answer(state, "ok")


def _apply_target(state: CopyState, hold: int | None) -> int:
    """The last seq to apply: the last complete transaction, not beyond ``hold``."""
    return state.complete_seq if hold is None else min(state.complete_seq, hold)


def _apply_up_to(
    connection: Connection,
    state: CopyState,
    new: list[LogEntry],
    first_new: int,
    hold: int | None,
    *,
    grouped: bool,
) -> None:
    """Apply logged entries from applied_seq + 1 through the last complete transaction
    (not beyond ``hold``): entries logged by earlier batches are read back from the
    log, this batch's are at hand."""
    target = _apply_target(state, hold)
    if target <= state.applied_seq:
        return

    def pending() -> Iterable[LogEntry]:
        if state.applied_seq + 1 < first_new:
            yield from stream_range(
                connection, state.tenant, state.applied_seq + 1, min(first_new - 1, target)
            )
        for entry in new:
            if entry.seq > target:
                break
            if entry.seq > state.applied_seq:
                yield entry

    last: LogEntry | None = None

    def tracked() -> Iterator[LogEntry]:
        nonlocal last
        for entry in pending():
            last = entry
            yield entry

    apply_entries(connection, state.tenant, tracked(), grouped=grouped)
    if last is not None:
        state.applied_at = last.at
    if state.stalled is not None:
        quarantine.resolve_applied(connection, state.tenant, target)
        state.stalled = None
    state.applied_seq = target


def apply_pending(db: Database, tenant: str, hold: int | None = None) -> CopyState:
    """Apply what is logged but not yet applied (after a hold is released)."""
    with applying(db, tenant) as (session, connection):
        state = read(connection, tenant, lock=True)
        if state.role == "replica":
            try:
                _apply_up_to(connection, state, [], state.head + 1, hold, grouped=True)
            except ApplyError:
                session.rollback()
                return state
            save(connection, state)
            session.commit()
        return state


def _stall(db: Database, tenant: str, source: str, batch: Batch, error: ApplyError) -> Ack:
    reason = f"適用できません / cannot apply: {error.reason}"
    with applying(db, tenant) as (session, connection):
        state = read(connection, tenant, lock=True)
        failing = [LogEntry.from_wire(e) for e in batch.entries if e.seq == error.seq]
        if not failing:  # staged by an earlier batch: read it back from the log
            failing = list(stream_range(connection, tenant, error.seq, error.seq))
        quarantine.put(connection, tenant, failing, "apply-failed", reason, source)
        state.stalled = f"seq {error.seq}: {error.reason}"
        save(connection, state)
        session.commit()
    log.error("tenant %s: entry %d cannot be applied: %s", tenant, error.seq, error.reason)
    return answer(state, "apply-failed", state.stalled)
