"""How much of each tenant's log this site keeps, and its backups' part in that.

A primary truncates its log below the floor that every replica of the placement holds —
and, when backups are on, that the latest backup holds too, in this primary's own
history — and tells its replicas, which truncate below it in turn (never past what they
applied). Backups run as jobs of the site's Celery worker (another process): the
acknowledged head each primary saves is what a backup may include, and the finished
jobs say what they hold.
"""

from __future__ import annotations

import logging

import anyio

from replication.backup import acked
from replication.backup.archive import scheduled_backup
from replication.backup.job import held_by_backups
from replication.backup.plan import BackupPlan
from replication.primary.primaries import Primaries
from replication.primary.tenant import TenantPrimary
from replication.sql import reading
from replication.state import CopyState, all_states
from replication.truncate import truncate
from yui.db.database import Database

log = logging.getLogger("yui.replication")


class LogRetention:
    def __init__(
        self, site: str, db: Database, primaries: Primaries, backups: BackupPlan | None
    ) -> None:
        self.site = site
        self.db = db
        self.primaries = primaries
        self.backups = backups
        #: per tenant: (epoch, the highest seq of this site's history its backups hold),
        #: known once a backup ran here in that epoch
        self.backed_up: dict[str, tuple[int, int]] = {}
        #: per tenant: the (epoch, acknowledged head) last saved for the backup job
        self._acked_recorded: dict[str, tuple[int, int]] = {}

    def acked_head(self, primary: TenantPrimary) -> int:
        """What the in-sync replicas acknowledged in this epoch (the local head when the
        placement has no replica: nothing could take over)."""
        placement = primary.placement()
        if placement is None or not placement.replicas:
            return primary.head
        # An empty in-sync set: what every replica holds (the one promoted may be any).
        voters = placement.in_sync or placement.replicas
        return min(primary.head, *(primary.acked.get(r, 0) for r in voters))

    async def record_acked_heads(self) -> None:
        """Save each primary's acknowledged head for the backup job (another process);
        only the ones that moved, in one transaction."""
        if self.backups is None:  # no backup here: nobody reads it
            return
        moved: dict[str, tuple[int, int]] = {}
        for tenant, primary in list(self.primaries.items()):
            head = (primary.write_epoch, self.acked_head(primary))
            if self._acked_recorded.get(tenant) != head:
                moved[tenant] = head
        if moved:
            await anyio.to_thread.run_sync(acked.record, self.db, moved)
            self._acked_recorded.update(moved)

    def truncation_floor(self, primary: TenantPrimary) -> int:
        """The lowest seq every replica of the placement holds (0: unknown)."""
        placement = primary.placement()
        if placement is None or not placement.replicas:
            return 0
        held = [primary.acked.get(replica) for replica in placement.replicas]
        if self.backups is not None:  # the latest backup must hold it too
            # ...of this primary's own history: what a backup held in an older epoch
            # (a deposed primary's job, replicated here) may be a tail it never had.
            epoch, seq = self.backed_up.get(primary.tenant, (None, None))
            held.append(seq if epoch == primary.write_epoch else None)
        if any(seq is None for seq in held):
            return 0
        return min(seq for seq in held if seq is not None)

    async def truncate_logs(self) -> None:
        for primary in list(self.primaries.values()):
            floor = self.truncation_floor(primary)
            primary.floor = max(primary.floor, floor)
            if floor > primary.log_start:
                primary.log_start = await anyio.to_thread.run_sync(
                    truncate, self.db, primary.tenant, floor
                )

        def replicas() -> list[CopyState]:
            with reading(self.db.engine) as connection:
                return [s for s in all_states(connection) if s.role == "replica"]

        for state in await anyio.to_thread.run_sync(replicas):
            if state.truncate_below > state.log_start and state.tenant not in self.primaries:
                await anyio.to_thread.run_sync(
                    truncate, self.db, state.tenant, state.truncate_below
                )

    async def follow_backup_jobs(self) -> None:
        """Backups run as jobs of the site's Celery worker (yui.jobs, another process):
        learn what the finished ones hold (the truncation floor waits for it). The
        worker's commits themselves ship when the upkeep re-reads the log heads
        (``refresh_heads``)."""
        if self.backups is None:
            return
        for tenant in list(self.primaries):
            held = await anyio.to_thread.run_sync(held_by_backups, self.db, tenant)
            if held is not None:
                self._backed_up(tenant, *held)

    def _backed_up(self, tenant: str, epoch: int, seq: int) -> None:
        known_epoch, known = self.backed_up.get(tenant, (epoch, 0))
        if epoch > known_epoch or (epoch == known_epoch and seq > known):
            self.backed_up[tenant] = (epoch, seq)

    async def back_up(self, tenant: str) -> int | None:
        plan = self.backups
        if plan is None:
            return None
        try:
            held = await anyio.to_thread.run_sync(
                scheduled_backup,
                self.db,
                tenant,
                plan.master,
                plan.buckets,
                self.site,
                plan.snapshot_over,
            )
        except Exception:
            log.exception("tenant %s: backup failed; the log is kept until one succeeds", tenant)
            return None
        self._backed_up(tenant, held.epoch, held.seq)
        return held.seq
