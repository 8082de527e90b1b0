"""Replication at one site node, put together from its parts: this site's primaries
(replication.primary.primaries), its replica side (replication.replica.receiver), how
much log it keeps (replication.backup.retention), and the upkeep that drives them. The
site node builds one and hands it to ``assembly.site.create_app``, which serves its
endpoints (replication.api.include).

Hooks into the kernel, all existing ones:
- ``Database.on_logged``: stages the new entries, wakes the tenant's streams and records
  the commit for the request (replication.primary.acks);
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

import httpx
from starlette.types import ASGIApp

from replication.backup.plan import BackupPlan
from replication.backup.retention import LogRetention
from replication.ports import Peers, Placements
from replication.primary import acks
from replication.primary.config import ReplicationConfig
from replication.primary.outbox import staging_engine
from replication.primary.primaries import Primaries
from replication.protocol.client import PeerClient
from replication.protocol.signing import SiteKey, TrustStore
from replication.protocol.transport import BatchConnections
from replication.replica.receiver import Receiver
from yui.db.context import LogRow
from yui.db.database import Database
from yui.errors import Conflict
from yui.tasks import cancel_and_wait
from yui.tls import peer_context, peer_verify

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
            http or httpx.AsyncClient(timeout=self.config.request_timeout, verify=peer_verify()),
            # batches over the network: kept-alive connections without httpx's cost; a
            # client given to the node (requests routed in memory) carries them too
            batches=BatchConnections(tls=peer_context()) if http is None else None,
        )
        #: the outbox's own small pool: a committing thread reads its new entries back
        #: while it still holds a connection of the main pool (see Outbox.fill)
        self._staging = staging_engine(db.engine)
        self.primaries = Primaries(
            site=site,
            db=db,
            client=self.client,
            placements=placements,
            config=self.config,
            staging=self._staging,
            # a tenant written here now (a jobs worker's writes too): not a replica's copy
            started=lambda tenant: self.receiver.lag.forget(tenant),
        )
        self.receiver = Receiver(site, db, trust, self.primaries)
        self.retention = LogRetention(site, db, self.primaries, backups)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upkeep: asyncio.Task[None] | None = None
        #: set when the placements changed: the upkeep reconciles at once, not at its tick
        self._placements_changed = asyncio.Event()
        db.on_logged.append(self._on_logged)

    # ------------------------------------------------------------------ wiring

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return acks.ReplicationAcks(app, self.wait_replicated)

    def write_gate(self, tenant: str) -> None:
        """Before a commit that writes the tenant's rows (the commit's thread)."""
        self.primaries.write_gate(tenant)

    def holds_copy(self, tenant: str) -> bool:
        """Whether this site holds a copy of the tenant (any thread)."""
        return self.primaries.holds_copy(tenant)

    async def wait_replicated(self, committed: Sequence[tuple[str, int]]) -> None:
        """Return once the request's commits may be acknowledged, or raise 503."""
        await self.primaries.wait_replicated(committed)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.primaries.reconcile()
        self._upkeep = asyncio.create_task(self._run_upkeep(), name="replication upkeep")

    async def stop(self) -> None:
        if self._upkeep is not None:
            await cancel_and_wait(self._upkeep)
            self._upkeep = None
        await self.primaries.stop()
        if self._staging is not self.db.engine:
            self._staging.dispose()
        if self._own_http:
            await self.client.http.aclose()
        if self.client.batches is not None:
            await self.client.batches.aclose()
        self._loop = None

    # ------------------------------------------------------------------ events

    def placements_changed(self) -> None:
        """The coordination view saw a placement change (its listener, on our loop): a
        tenant placed here starts being primary now rather than at the next upkeep tick,
        which shortens the 503 window of TakingOver writes."""
        self._placements_changed.set()

    def _on_logged(self, tenant: str, last_seq: int, rows: Sequence[LogRow]) -> None:
        """After a commit that logged entries, in the committing thread."""
        acks.record(tenant, last_seq)
        self.primaries.stage(tenant, last_seq, rows)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.primaries.logged, tenant, last_seq)

    # ------------------------------------------------------------------ upkeep

    async def _take_named_tenants_again(self) -> None:
        """A fenced primary that its placement names again, at a newer epoch, becomes the
        primary at that epoch, as a mover's promote call would make it (the seal and the
        placement's compare-and-swap keep this safe: replicas sealed above the epoch
        refuse it again)."""
        for tenant, epoch in self.primaries.named_again().items():
            try:
                await self.receiver.promote(tenant, epoch)
            except Conflict as error:  # sealed here above it: a move is under way
                log.info("tenant %s: not taking it again at epoch %d: %s", tenant, epoch, error)
                continue
            log.warning("tenant %s: fenced, then named the primary again: epoch %d", tenant, epoch)

    async def _run_upkeep(self) -> None:
        """Every ``upkeep_seconds``: reconcile, ISR upkeep, truncation, backup jobs. A
        placement change wakes it early for the reconcile alone."""
        loop = asyncio.get_running_loop()
        rounds = 0
        heads_every = max(1, round(self.config.heartbeat_seconds / self.config.upkeep_seconds))
        next_tick = loop.time() + self.config.upkeep_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_tick):
                    await self._placements_changed.wait()
            self._placements_changed.clear()
            ticked = loop.time() >= next_tick
            try:
                await self.primaries.reconcile()
                await self._take_named_tenants_again()
                if not ticked:
                    continue
                next_tick = loop.time() + self.config.upkeep_seconds
                rounds += 1
                for primary in list(self.primaries.values()):
                    await primary.upkeep()
                if rounds % heads_every == 0:
                    await self.primaries.refresh_heads()
                    await self.retention.record_acked_heads()
                if rounds % TRUNCATE_EVERY == 0:
                    await self.retention.truncate_logs()
                if rounds % max(1, round(FOLLOW_JOBS_SECONDS / self.config.upkeep_seconds)) == 0:
                    await self.retention.follow_backup_jobs()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("replication upkeep failed; trying again")
                next_tick = max(next_tick, loop.time() + self.config.upkeep_seconds)
