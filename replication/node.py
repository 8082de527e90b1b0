"""Replication at one site node: the receiver's endpoints, a sender for every tenant
this site is primary of, the write path's hooks, and the upkeep (placements, ISR lag,
truncation). The site node builds one and hands it to ``yui.site.create_app``.

Hooks into the kernel, all existing ones:
- ``Database.on_logged``: wakes the tenant's streams and records the commit for the
  request (replication.acks);
- ``Database.write_gate``: ``write_gate`` refuses a write before its commit when it
  could not be acknowledged (fenced, or fewer in-sync replicas than min_insync);
- an ASGI middleware (``middleware()``) holds each answer until its writes are where
  the tenant's mode promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import anyio
import httpx
from fastapi import APIRouter
from starlette.types import ASGIApp

from replication import acks
from replication.backup.archive import scheduled_backup
from replication.backup.job import held_by_backups
from replication.backup.plan import BackupPlan
from replication.client import PeerClient
from replication.ports import Peers, Placements, TenantPlacement
from replication.primary import ReplicationConfig, TenantPrimary
from replication.receiver import Receiver, build_router
from replication.roles import become_primary
from replication.signing import SiteKey, TrustStore
from replication.sql import reading
from replication.state import CopyState, all_states, read
from replication.transport import BatchConnections
from replication.truncate import truncate
from replication.wire import NodeStatus, PauseOut, ReplicaStatus, StreamStatus, TenantStatus
from yui.db.database import Database
from yui.errors import Conflict

log = logging.getLogger("yui.replication")

#: truncation runs once per this many upkeep rounds
TRUNCATE_EVERY = 10
#: how often the upkeep looks for finished backup jobs (the Celery worker's)
FOLLOW_JOBS_SECONDS = 1.0


class ReplicationNode:
    def __init__(
        self,
        *,
        site: str,
        db: Database,
        key: SiteKey,
        trust: TrustStore,
        placements: Placements,
        peers: Peers,
        config: ReplicationConfig | None = None,
        http: httpx.AsyncClient | None = None,
        backups: BackupPlan | None = None,
    ) -> None:
        self.site = site
        self.db = db
        self.trust = trust
        self.placements = placements
        self.config = config or ReplicationConfig()
        self._own_http = http is None
        self.client = PeerClient(
            key,
            peers,
            http or httpx.AsyncClient(timeout=self.config.request_timeout),
            # batches over the network: kept-alive connections without httpx's cost; a
            # client given to the node (requests routed in memory) carries them too
            batches=BatchConnections() if http is None else None,
        )
        self.primaries: dict[str, TenantPrimary] = {}
        self.receiver = Receiver(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upkeep: asyncio.Task[None] | None = None
        self._reconciling = asyncio.Lock()
        self.backups = backups
        #: per tenant: the highest seq its backups hold (known once a backup ran here)
        self.backed_up: dict[str, int] = {}
        db.on_logged.append(self._on_logged)

    # ------------------------------------------------------------------ wiring

    def router(self) -> APIRouter:
        return build_router(self, self.receiver)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return acks.ReplicationAcks(app, self.wait_replicated)

    def write_gate(self, tenant: str) -> None:
        """Before a commit that writes the tenant's rows (the commit's thread)."""
        primary = self.primaries.get(tenant)
        if primary is not None:
            primary.check_writable()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.reconcile()
        self._upkeep = asyncio.create_task(self._run_upkeep(), name="replication upkeep")

    async def stop(self) -> None:
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
            self._upkeep = None
        for primary in list(self.primaries.values()):
            await primary.stop()
        self.primaries.clear()
        if self._own_http:
            await self.client.http.aclose()
        if self.client.batches is not None:
            await self.client.batches.aclose()
        self._loop = None

    # ------------------------------------------------------------------ events

    def _on_logged(self, tenant: str, last_seq: int) -> None:
        """After a commit that logged entries, in the committing thread."""
        acks.record(tenant, last_seq)
        primary = self.primaries.get(tenant)
        if primary is not None:
            try:
                primary.outbox.fill(self.db.engine, tenant, last_seq)
            except Exception:  # the streams read the log instead; the commit stands
                log.exception("tenant %s: could not stage entries up to %d", tenant, last_seq)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._logged, tenant, last_seq)

    def _logged(self, tenant: str, last_seq: int) -> None:
        primary = self.primaries.get(tenant)
        if primary is not None:
            primary.logged(last_seq)

    def sealed(self, tenant: str, epoch: int) -> None:
        primary = self.primaries.get(tenant)
        if primary is not None and epoch > primary.write_epoch:
            primary.fence(
                f"テナント {tenant} はエポック {epoch} に封印されました / tenant {tenant} was sealed "
                f"at epoch {epoch}: another site is being promoted"
            )

    async def promoted(self, tenant: str) -> None:
        old = self.primaries.pop(tenant, None)
        if old is not None:
            await old.stop()
        # This tenant only (an evacuation promotes many at once; the upkeep reconciles all):
        # once the placement names this site, its primary starts (here, or at its first write).
        placement = self.placements.placement(tenant)
        if placement is not None and placement.primary == self.site:
            await self._primary(placement)

    async def pause_writes(self, tenant: str, ttl: float, wait: float) -> PauseOut:
        """A planned move: stop the tenant's new writes here and wait for its in-sync set."""
        primary = self.primaries.get(tenant)
        if primary is None:
            placement = self.placements.placement(tenant)
            if placement is not None and placement.primary == self.site:
                primary = await self._primary(placement)
        if primary is None:
            raise Conflict(
                f"{self.site} はテナント {tenant} の主系ではありません / {self.site} is not the "
                f"primary of {tenant}"
            )
        return await primary.pause(ttl, wait)

    def resume_writes(self, tenant: str) -> bool:
        """End a pause (a move that aborted, or done); False when nothing was paused here."""
        primary = self.primaries.get(tenant)
        if primary is None:
            return False
        primary.resume()
        return True

    async def wait_replicated(self, committed: Sequence[tuple[str, int]]) -> None:
        last: dict[str, int] = {}
        for tenant, seq in committed:
            last[tenant] = max(seq, last.get(tenant, 0))
        for tenant, seq in last.items():
            primary = self.primaries.get(tenant)
            if primary is None:
                placement = self.placements.placement(tenant)
                if placement is None or placement.primary != self.site:
                    continue
                primary = await self._primary(placement)
                if primary is None:
                    continue
            await primary.wait_replicated(seq)

    # ------------------------------------------------------------------ placements

    async def reconcile(self) -> None:
        """Run a TenantPrimary for exactly the tenants placed here as primary."""
        async with self._reconciling:
            placements = dict(self.placements.placements())
            for placement in placements.values():
                if placement.primary == self.site:
                    await self._primary(placement, locked=True)
            for tenant in list(self.primaries):
                current = placements.get(tenant)
                if current is None or current.primary != self.site:
                    await self.primaries.pop(tenant).stop()

    async def _primary(
        self, placement: TenantPlacement, *, locked: bool = False
    ) -> TenantPrimary | None:
        tenant = placement.tenant
        existing = self.primaries.get(tenant)
        if existing is not None:
            existing.follow(placement)
            return existing
        if not locked:
            async with self._reconciling:
                return await self._primary(placement, locked=True)
        state = await self._state(tenant)
        if state.role != "primary" or state.sealed_epoch > state.write_epoch:
            try:
                await anyio.to_thread.run_sync(
                    become_primary, self.db, tenant, placement.epoch, self.site
                )
            except Conflict as error:
                log.warning("tenant %s: not taking over yet: %s", tenant, error.detail)
                return None
        primary = TenantPrimary(self, tenant)
        await primary.load()
        self.primaries[tenant] = primary
        primary.follow(placement)
        return primary

    async def _state(self, tenant: str) -> CopyState:
        def load() -> CopyState:
            with reading(self.db.engine) as connection:
                return read(connection, tenant)

        return await anyio.to_thread.run_sync(load)

    # ------------------------------------------------------------------ upkeep

    async def _run_upkeep(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.config.upkeep_seconds)
            rounds += 1
            try:
                await self.reconcile()
                for primary in list(self.primaries.values()):
                    await primary.upkeep()
                if rounds % TRUNCATE_EVERY == 0:
                    await self.truncate_logs()
                if rounds % max(1, round(FOLLOW_JOBS_SECONDS / self.config.upkeep_seconds)) == 0:
                    await self._follow_backup_jobs()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("replication upkeep failed; trying again")

    def truncation_floor(self, primary: TenantPrimary) -> int:
        """The lowest seq every replica of the placement holds (0: unknown)."""
        placement = primary.placement()
        if placement is None or not placement.replicas:
            return 0
        held = [primary.acked.get(replica) for replica in placement.replicas]
        if self.backups is not None:  # the latest backup must hold it too
            held.append(self.backed_up.get(primary.tenant))
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

    # ------------------------------------------------------------------ backups

    async def _follow_backup_jobs(self) -> None:
        """Backups run as jobs of the site's Celery worker (yui.jobs, another process):
        learn what the finished ones hold (the truncation floor waits for it). The
        worker's commits themselves ship when an idle stream's heartbeat re-reads the
        log head (``refresh_head``)."""
        if self.backups is None:
            return
        for tenant in list(self.primaries):
            held = await anyio.to_thread.run_sync(held_by_backups, self.db, tenant)
            if held is not None:
                self.backed_up[tenant] = max(held, self.backed_up.get(tenant, 0))

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
        self.backed_up[tenant] = max(held, self.backed_up.get(tenant, 0))
        return held

    # ------------------------------------------------------------------ status

    async def node_status(self) -> NodeStatus:
        tenants = [self._tenant_status(p) for _, p in sorted(self.primaries.items())]

        def load() -> list[CopyState]:
            with reading(self.db.engine) as connection:
                return all_states(connection)

        states = await anyio.to_thread.run_sync(load)
        copies = [
            ReplicaStatus(
                tenant=s.tenant,
                site=self.site,
                role=s.role,
                durable_seq=s.head,
                durable_epoch=s.head_epoch,
                applied_seq=s.applied_seq,
                sealed_epoch=s.sealed_epoch,
                log_start=s.log_start,
                snapshot_seq=s.snapshot_seq,
                epochs=s.epochs,
                source_site=s.source_site,
                primary_seq=s.primary_seq,
                applied_at=s.applied_at,
                stalled=s.stalled,
                hold=self.receiver.gate(s.tenant).current_hold(),
            )
            for s in states
        ]
        return NodeStatus(site=self.site, tenants=tenants, copies=copies)

    def _tenant_status(self, primary: TenantPrimary) -> TenantStatus:
        placement = primary.placement()
        in_sync = list(placement.in_sync) if placement else []
        streams = []
        for replica in placement.replicas if placement else ():
            stream = primary.streams.get(replica)
            acked = primary.acked.get(replica)
            streams.append(
                StreamStatus(
                    replica=replica,
                    in_sync=replica in in_sync,
                    acked_seq=acked,
                    lag_entries=None if acked is None else max(0, primary.head - acked),
                    lag_seconds=stream.lag_seconds() if stream else None,
                    state=stream.state if stream else "stopped",
                    detail=stream.detail if stream else None,
                )
            )
        return TenantStatus(
            tenant=primary.tenant,
            role="primary",
            head_seq=primary.head,
            epoch=primary.write_epoch,
            mode=placement.mode if placement else None,
            min_insync=placement.min_insync if placement else None,
            in_sync=in_sync,
            replicas=streams,
            fenced=primary.fenced,
        )
