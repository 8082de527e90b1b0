"""Replication at one site node: the receiver's endpoints, a sender for every tenant
this site is primary of, the write path's hooks, and the upkeep (placements, ISR lag,
truncation). The site node builds one and hands it to ``assembly.site.create_app``.

Hooks into the kernel, all existing ones:
- ``Database.on_logged``: wakes the tenant's streams and records the commit for the
  request (replication.primary.acks);
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
from dataclasses import dataclass

import anyio
import httpx
from fastapi import APIRouter
from starlette.types import ASGIApp

from replication.backup import acked
from replication.backup.archive import scheduled_backup
from replication.backup.job import held_by_backups
from replication.backup.plan import BackupPlan
from replication.entries import writer_history
from replication.history import History
from replication.ports import Peers, Placements, TenantPlacement
from replication.primary import acks
from replication.primary.config import ReplicationConfig
from replication.primary.outbox import staging_engine
from replication.primary.tenant import (
    PAUSE_RETRY_AFTER,
    Deposed,
    TakingOver,
    TenantPrimary,
    placement_unknown,
)
from replication.protocol.client import PeerClient
from replication.protocol.many import Answers, gathered
from replication.protocol.signing import SiteKey, TrustStore
from replication.protocol.transport import BatchConnections
from replication.protocol.wire import (
    NodeStatus,
    PauseOut,
    ReplicaStatus,
    StreamStatus,
    TenantStatus,
)
from replication.replica.endpoints import Receiver, build_router
from replication.replica.roles import become_primaries, become_primary
from replication.sql import reading
from replication.state import CopyState, all_states, holds_copy, log_heads, read
from replication.truncate import truncate
from yui.db.database import Database
from yui.errors import Conflict
from yui.tasks import cancel_and_wait
from yui.tls import peer_context, peer_verify

log = logging.getLogger("yui.replication")

#: truncation runs once per this many upkeep rounds
TRUNCATE_EVERY = 10
#: how often the upkeep looks for finished backup jobs (the Celery worker's)
FOLLOW_JOBS_SECONDS = 1.0
#: primaries started at once, and the pause between such slices (_start_primaries)
START_SLICE = 10
START_PAUSE_SECONDS = 0.1


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
        self.primaries: dict[str, TenantPrimary] = {}
        self.receiver = Receiver(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upkeep: asyncio.Task[None] | None = None
        self._reconciling = asyncio.Lock()
        #: primaries being started after a batched promotion
        self._starting: set[asyncio.Task[None]] = set()
        #: set when the placements changed: the upkeep reconciles at once, not at its tick
        self._placements_changed = asyncio.Event()
        self.backups = backups
        #: per tenant: (epoch, the highest seq of this site's history its backups hold),
        #: known once a backup ran here in that epoch
        self.backed_up: dict[str, tuple[int, int]] = {}
        #: per tenant: the (epoch, acknowledged head) last saved for the backup job
        self._acked_recorded: dict[str, tuple[int, int]] = {}
        #: tenants this site holds a copy of (found so far; a copy's state row stays)
        self._copies: set[str] = set()
        #: the outbox's own small pool: a committing thread reads its new entries back
        #: while it still holds a connection of the main pool (see ChangeOutbox.fill)
        self._staging = staging_engine(db.engine)
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
            return
        placement = self.placements.placement(tenant)
        if placement is None and self.holds_copy(tenant):
            # A copy with no placement known (the view is not loaded: etcd was down when
            # this node started): it may be a replica, or a deposed primary.
            raise placement_unknown(self.site, tenant)
        if placement is not None and placement.primary == self.site:
            # Between the placement's CAS and our promotion (the watch can be faster than
            # the mover's promote call): nothing may commit before the new epoch is ours.
            raise TakingOver(
                f"{self.site} はテナント {tenant} の主系を引き継いでいる最中です。"
                f"{PAUSE_RETRY_AFTER} 秒後に再試行してください / {self.site} is taking over as "
                f"the primary of {tenant}: retry in {PAUSE_RETRY_AFTER} s (nothing was written)",
                retry_after=PAUSE_RETRY_AFTER,
            )

    def holds_copy(self, tenant: str) -> bool:
        """Whether this site holds a copy of the tenant (any thread). Asked only while its
        placement is unknown, so a read per call costs nothing in steady state."""
        if tenant in self._copies:
            return True
        with reading(self.db.engine) as connection:
            found = holds_copy(connection, tenant)
        if found:
            self._copies.add(tenant)
        return found

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.reconcile()
        self._upkeep = asyncio.create_task(self._run_upkeep(), name="replication upkeep")

    async def stop(self) -> None:
        if self._upkeep is not None:
            await cancel_and_wait(self._upkeep)
            self._upkeep = None
        for task in list(self._starting):
            await cancel_and_wait(task)
        for primary in list(self.primaries.values()):
            await primary.stop()
        self.primaries.clear()
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
        which shortens the 503 window of :class:`TakingOver` writes."""
        self._placements_changed.set()

    def _on_logged(self, tenant: str, last_seq: int) -> None:
        """After a commit that logged entries, in the committing thread."""
        acks.record(tenant, last_seq)
        primary = self.primaries.get(tenant)
        if primary is not None:
            try:
                primary.outbox.fill(self._staging, tenant, last_seq)
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

    async def promoted_many(self, tenants: list[str]) -> None:
        """:meth:`promoted` for many tenants: their primaries start together (one
        worker-thread hop for all, not two each)."""
        for tenant in tenants:
            old = self.primaries.pop(tenant, None)
            if old is not None:
                await old.stop()
        here = [
            placement
            for tenant in tenants
            if (placement := self.placements.placement(tenant)) is not None
            and placement.primary == self.site
        ]
        if here:  # in the background: the promotion is answered (writes start them too)
            task = asyncio.create_task(self._start_quietly(here), name="start primaries")
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def pause_many(self, tenants: list[str], ttl: float, wait: float) -> Answers[PauseOut]:
        """:meth:`pause_writes` for many tenants at once (each waits for its own set)."""
        return await gathered((self.pause_writes(t, ttl, wait) for t in tenants), tenants)

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
                if placement is None:
                    if await anyio.to_thread.run_sync(self.holds_copy, tenant):
                        # committed although its placement is unknown (a gate passed
                        # before the view was lost): no copy is known to hold it
                        raise placement_unknown(self.site, tenant)
                    continue  # never placed: a lone site's write stands on its own
                if placement.primary != self.site:
                    # Deposed after the commit, before this wait (the new placement
                    # stopped our primary): nothing says another copy holds the write,
                    # so it is not acknowledged — found by the 100-run soak, where such
                    # writes were answered 201 and then lost at the new primary.
                    raise Deposed(
                        f"テナント {tenant} の主系は {placement.primary} に移りました。この書き込み"
                        f"は確定していません / the primary of {tenant} moved to "
                        f"{placement.primary} while this write waited: it is not acknowledged; "
                        "retry (the new primary answers)"
                    )
                primary = await self._primary(placement)
                if primary is None:
                    raise TakingOver(
                        f"{self.site} はテナント {tenant} の主系を引き継いでいる最中です / "
                        f"{self.site} is taking over as the primary of {tenant}: retry",
                        retry_after=PAUSE_RETRY_AFTER,
                    )
            await primary.wait_replicated(seq)

    # ------------------------------------------------------------------ placements

    async def reconcile(self) -> None:
        """Run a TenantPrimary for exactly the tenants placed here as primary."""
        async with self._reconciling:
            placements = dict(self.placements.placements())
            new: list[TenantPlacement] = []
            for placement in placements.values():
                if placement.primary != self.site:
                    continue
                existing = self.primaries.get(placement.tenant)
                if existing is not None:
                    existing.follow(placement)
                else:
                    new.append(placement)
            for tenant in list(self.primaries):
                current = placements.get(tenant)
                if current is None or current.primary != self.site:
                    await self.primaries.pop(tenant).stop()
        await self._start_primaries(new)

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
        self.receiver.lag.forget(tenant)  # writes here now (a jobs worker's too): not a replica's
        primary.follow(placement)
        return primary

    async def _start_primaries(self, placements: list[TenantPlacement]) -> None:
        """Start the primaries of tenants placed here, a slice at a time: each slice's
        takeovers and log reads in one worker-thread hop. Starting hundreds at once
        (every one opens a stream to each replica) starved this loop of its lease
        renewals on a small machine; a short pause between slices spreads them."""
        for start in range(0, len(placements), START_SLICE):
            if start:
                await asyncio.sleep(START_PAUSE_SECONDS)
            async with self._reconciling:
                await self._start_slice(placements[start : start + START_SLICE])

    async def _start_quietly(self, placements: list[TenantPlacement]) -> None:
        try:
            await self._start_primaries(placements)
        except Exception:  # the upkeep's reconcile starts whatever is missing
            log.exception("could not start %d primaries; the upkeep tries again", len(placements))

    async def _start_slice(self, placements: list[TenantPlacement]) -> None:
        """(The reconcile lock held.) Only tenants still placed here and not running."""
        wanted = [
            placement
            for placement in placements
            if placement.tenant not in self.primaries
            and (current := self.placements.placement(placement.tenant)) is not None
            and current.primary == self.site
        ]
        if not wanted:
            return
        loaded = await anyio.to_thread.run_sync(_take_over, self.db, self.site, wanted)
        for placement in wanted:
            view = loaded.get(placement.tenant)
            if view is None or placement.tenant in self.primaries:
                continue
            primary = TenantPrimary(self, placement.tenant)
            primary.write_epoch, primary.log_start, primary.history = (
                view.write_epoch,
                view.log_start,
                view.history,
            )
            primary.head = max(primary.head, view.head)
            self.primaries[placement.tenant] = primary
            self.receiver.lag.forget(placement.tenant)
            primary.follow(placement)

    async def _state(self, tenant: str) -> CopyState:
        def load() -> CopyState:
            with reading(self.db.engine) as connection:
                return read(connection, tenant)

        return await anyio.to_thread.run_sync(load)

    # ------------------------------------------------------------------ upkeep

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
                await self.reconcile()
                if not ticked:
                    continue
                next_tick = loop.time() + self.config.upkeep_seconds
                rounds += 1
                for primary in list(self.primaries.values()):
                    await primary.upkeep()
                if rounds % heads_every == 0:
                    await self.refresh_heads()
                    await self.record_acked_heads()
                if rounds % TRUNCATE_EVERY == 0:
                    await self.truncate_logs()
                if rounds % max(1, round(FOLLOW_JOBS_SECONDS / self.config.upkeep_seconds)) == 0:
                    await self._follow_backup_jobs()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("replication upkeep failed; trying again")
                next_tick = max(next_tick, loop.time() + self.config.upkeep_seconds)

    async def refresh_heads(self) -> None:
        """Learn what other processes logged (the jobs worker, the CLI): one read of every
        log head for all the tenants this site is primary of, every heartbeat period. Each
        idle stream read its own before: 400 reads a second at a site primary of 1,000
        tenants, which starved its event loop during an evacuation."""
        if not self.primaries:
            return

        def heads() -> dict[str, int]:
            with reading(self.db.engine) as connection:
                return log_heads(connection)

        for tenant, seq in (await anyio.to_thread.run_sync(heads)).items():
            primary = self.primaries.get(tenant)
            if primary is not None:
                primary.logged(seq)  # wakes its streams when the head moved

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

    # ------------------------------------------------------------------ backups

    async def _follow_backup_jobs(self) -> None:
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


@dataclass(frozen=True)
class _Loaded:
    """What ``TenantPrimary.load`` reads, for a primary started in a batch."""

    write_epoch: int
    head: int
    log_start: int
    history: History


def _take_over(db: Database, site: str, placements: list[TenantPlacement]) -> dict[str, _Loaded]:
    """In a worker thread: make this copy the primary where it is not yet (as ``_primary``
    does; all in one transaction where it can), then read every log's head and epoch
    history over one connection. A tenant that cannot take over yet (sealed higher) is
    left out; the upkeep tries it again."""
    epochs = {p.tenant: p.epoch for p in placements}
    with reading(db.engine) as connection:
        states = {tenant: read(connection, tenant) for tenant in epochs}
    behind = {
        tenant: epochs[tenant]
        for tenant, state in states.items()
        if state.role != "primary" or state.sealed_epoch > state.write_epoch
    }
    refused = set()
    for tenant, answer in become_primaries(db, behind, site).items():
        if isinstance(answer, Conflict):
            log.warning("tenant %s: not taking over yet: %s", tenant, answer.detail)
            refused.add(tenant)
    loaded: dict[str, _Loaded] = {}
    with reading(db.engine) as connection:
        for tenant in epochs.keys() - refused:
            state = read(connection, tenant)
            history = writer_history(connection, state)
            loaded[tenant] = _Loaded(state.write_epoch, state.head, state.log_start, history)
    return loaded
