"""The acknowledged head: how far a tenant's log may be archived.

A primary's log beyond what its in-sync replicas acknowledged is not history yet: if
the primary is lost, the controller promotes a replica, and that tail is quarantined
(it was never acknowledged to anyone). A backup holds only history, so it reads the
log up to the acknowledged head, never up to the local head.

The primary's node knows the acknowledgements (in memory); it records the head they
make, with its epoch, in the tenant's ``replication_state`` row every heartbeat period
(`record`). The backup job — another process — reads it (`acknowledged_head`). A head
recorded in an older epoch says nothing about this one: then only the entries written
before this epoch began (the fork point: the log the promotion kept) are history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from replication.entries import writer_history
from replication.history import History
from replication.models import ReplicationState
from replication.sql import table_of
from replication.state import CopyState, applying
from yui.db.database import Database

_STATE = table_of(ReplicationState)


class NotOurs(RuntimeError):
    """This site is not (or no longer) the tenant's primary in the epoch asked for."""


@dataclass(frozen=True)
class Acknowledged:
    #: the highest seq that is history (never beyond the local head)
    seq: int
    #: the epoch this site writes the tenant in (the fencing token of its backups)
    epoch: int
    #: the epoch history of this site's log (from the log, not from a backup)
    history: History


def fork_point(history: History, epoch: int, head: int) -> int:
    """The last seq written before ``epoch`` began here (the whole log if it has no
    entry of that epoch yet)."""
    for entry_epoch, start in history:
        if entry_epoch >= epoch:
            return min(head, start - 1)
    return head


def acknowledged_head(connection: Connection, state: CopyState) -> Acknowledged:
    """What of this site's log is history. Raises `NotOurs` at a replica."""
    if state.role != "primary" or state.sealed_epoch > state.write_epoch:
        raise NotOurs(
            f"このサイトは {state.tenant} の主系ではありません / this site is not the primary "
            f"of {state.tenant} (role {state.role}, epoch {state.write_epoch}, sealed at "
            f"{state.sealed_epoch})"
        )
    history = writer_history(connection, state)
    if state.write_epoch == 0:  # never placed (a lone site): nothing to fail over to
        return Acknowledged(state.head, 0, history)
    row = connection.execute(
        select(_STATE.c.acked_seq, _STATE.c.acked_epoch).where(_STATE.c.tenant_id == state.tenant)
    ).one_or_none()
    kept = fork_point(history, state.write_epoch, state.head)
    if row is None or int(row.acked_epoch) != state.write_epoch:
        return Acknowledged(kept, state.write_epoch, history)
    return Acknowledged(min(state.head, max(kept, int(row.acked_seq))), state.write_epoch, history)


def record(db: Database, heads: Mapping[str, tuple[int, int]]) -> None:
    """Save each tenant's acknowledged head as (epoch, seq), in one transaction."""
    if not heads:
        return
    with applying(db, next(iter(heads))) as (session, connection):
        for tenant, (epoch, seq) in heads.items():
            connection.execute(
                update(_STATE)
                .where(_STATE.c.tenant_id == tenant)
                .values(acked_seq=seq, acked_epoch=epoch)
            )
        session.commit()
