"""This site's primaries: a TenantPrimary for exactly the tenants placed here as primary,
started when the placement names this site (taking the tenant over first), stopped when
it names another; what a write asks before its commit (the write gate) and after it
(the wait for its acknowledgement); pauses for planned moves; what seals and
promotions at this site's copies mean for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import anyio
from sqlalchemy import Engine

from replication.entries import writer_history
from replication.history import History
from replication.ports import Placements, TenantPlacement
from replication.primary.config import ReplicationConfig
from replication.primary.tenant import (
    PAUSE_RETRY_AFTER,
    Deposed,
    TakingOver,
    TenantPrimary,
    placement_unknown,
)
from replication.protocol.client import PeerClient
from replication.protocol.many import Answers, gathered
from replication.protocol.wire import PauseOut, StreamStatus, TenantStatus
from replication.replica.roles import become_primaries, become_primary
from replication.sql import reading
from replication.state import CopyState, holds_copy, log_heads, read
from yui.db.context import LogRow
from yui.db.database import Database
from yui.errors import Conflict
from yui.tasks import cancel_and_wait

log = logging.getLogger("yui.replication")

#: primaries started at once, and the pause between such slices (_start_primaries)
START_SLICE = 10
START_PAUSE_SECONDS = 0.1


class Primaries(Mapping[str, TenantPrimary]):
    """The running primaries by tenant (a read-only mapping), and what starts and stops them."""

    def __init__(
        self,
        *,
        site: str,
        db: Database,
        client: PeerClient,
        placements: Placements,
        config: ReplicationConfig,
        staging: Engine,
        started: Callable[[str], None],
    ) -> None:
        self.site = site
        self.db = db
        self.client = client
        self.placements = placements
        self.config = config
        #: the outbox's own small pool (see Outbox.fill)
        self.staging = staging
        #: told when a tenant's primary starts here (its copy takes no primary's word now)
        self.started = started
        self._running: dict[str, TenantPrimary] = {}
        self._reconciling = asyncio.Lock()
        #: primaries being started after a batched promotion
        self._starting: set[asyncio.Task[None]] = set()
        #: tenants this site holds a copy of (found so far; a copy's state row stays)
        self._copies: set[str] = set()

    def __getitem__(self, tenant: str) -> TenantPrimary:
        return self._running[tenant]

    def __iter__(self) -> Iterator[str]:
        return iter(self._running)

    def __len__(self) -> int:
        return len(self._running)

    async def stop(self) -> None:
        for task in list(self._starting):
            await cancel_and_wait(task)
        for primary in list(self._running.values()):
            await primary.stop()
        self._running.clear()

    def statuses(self) -> list[TenantStatus]:
        """Each primary's state, streams and in-sync set (the node's status)."""
        return [tenant_status(primary) for _, primary in sorted(self._running.items())]

    # ------------------------------------------------------------------ writes

    def write_gate(self, tenant: str) -> None:
        """Before a commit that writes the tenant's rows (the commit's thread)."""
        primary = self._running.get(tenant)
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

    def stage(self, tenant: str, last_seq: int, rows: Sequence[LogRow] = ()) -> None:
        """After a commit that logged entries, in the committing thread: the entries go
        into the tenant's outbox while they are fresh (from ``rows``, the log rows the
        commit inserted, as far as they go)."""
        primary = self._running.get(tenant)
        if primary is not None:
            try:
                primary.outbox.fill(self.staging, tenant, last_seq, rows)
            except Exception:  # the streams read the log instead; the commit stands
                log.exception("tenant %s: could not stage entries up to %d", tenant, last_seq)

    def logged(self, tenant: str, last_seq: int) -> None:
        """(On the loop.) The tenant's log reached ``last_seq``: its streams wake."""
        primary = self._running.get(tenant)
        if primary is not None:
            primary.logged(last_seq)

    def sealed(self, tenant: str, epoch: int) -> None:
        primary = self._running.get(tenant)
        if primary is not None and epoch > primary.write_epoch:
            primary.fence(
                f"テナント {tenant} はエポック {epoch} に封印されました / tenant {tenant} was sealed "
                f"at epoch {epoch}: another site is being promoted",
                epoch,
            )

    def named_again(self) -> dict[str, int]:
        """Fenced primaries whose placement names this site at an epoch that no sealing
        promotion can overtake: tenant -> the placement's epoch, to take the tenant again at
        (once per epoch). Nothing else restarts a fenced primary but a mover's promote call.

        - A placement rewritten since the fence (the controller's repair of a promotion that
          had sealed the replicas and then promoted nobody left the soak's tenants fenced
          for minutes).
        - A placement at or above the seal that fenced it, though not rewritten since: every
          promotion seals at the revision it read plus one and compares that revision, so a
          placement at the seal's epoch or above was written after that read and the
          promotion cannot complete (the soak: the primary's own in-sync change landed at
          the seal's very revision, and the tenant stayed fenced)."""
        again: dict[str, int] = {}
        for tenant, primary in self._running.items():
            placement = self.placements.placement(tenant)
            if (
                primary.fenced is not None
                and placement is not None
                and placement.primary == self.site
                and (
                    placement.epoch > primary.fenced_under
                    or primary.write_epoch < primary.fenced_by <= placement.epoch
                )
            ):
                primary.fenced_by = 0  # once: a later seal fences it anew
                primary.fenced_under = placement.epoch
                again[tenant] = placement.epoch
        return again

    async def promoted(self, tenant: str) -> None:
        old = self._running.pop(tenant, None)
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
            old = self._running.pop(tenant, None)
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
        primary = self._running.get(tenant)
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
        primary = self._running.get(tenant)
        if primary is None:
            return False
        primary.resume()
        return True

    async def wait_replicated(self, committed: Sequence[tuple[str, int]]) -> None:
        last: dict[str, int] = {}
        for tenant, seq in committed:
            last[tenant] = max(seq, last.get(tenant, 0))
        for tenant, seq in last.items():
            primary = self._running.get(tenant)
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
                existing = self._running.get(placement.tenant)
                if existing is not None:
                    existing.follow(placement)
                else:
                    new.append(placement)
            for tenant in list(self._running):
                current = placements.get(tenant)
                if current is None or current.primary != self.site:
                    await self._running.pop(tenant).stop()
        await self._start_primaries(new)

    async def _primary(
        self, placement: TenantPlacement, *, locked: bool = False
    ) -> TenantPrimary | None:
        tenant = placement.tenant
        existing = self._running.get(tenant)
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
        self._running[tenant] = primary
        self.started(tenant)  # writes here now (a jobs worker's too): not a replica's
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
            if placement.tenant not in self._running
            and (current := self.placements.placement(placement.tenant)) is not None
            and current.primary == self.site
        ]
        if not wanted:
            return
        loaded = await anyio.to_thread.run_sync(_take_over, self.db, self.site, wanted)
        for placement in wanted:
            view = loaded.get(placement.tenant)
            if view is None or placement.tenant in self._running:
                continue
            primary = TenantPrimary(self, placement.tenant)
            primary.write_epoch, primary.log_start, primary.history = (
                view.write_epoch,
                view.log_start,
                view.history,
            )
            primary.head = max(primary.head, view.head)
            primary.outbox.begin_after(primary.head)
            self._running[placement.tenant] = primary
            self.started(placement.tenant)
            primary.follow(placement)

    async def _state(self, tenant: str) -> CopyState:
        def load() -> CopyState:
            with reading(self.db.engine) as connection:
                return read(connection, tenant)

        return await anyio.to_thread.run_sync(load)

    async def refresh_heads(self) -> None:
        """Learn what other processes logged (the jobs worker, the CLI): one read of every
        log head for all the tenants this site is primary of, every heartbeat period. Each
        idle stream read its own before: 400 reads a second at a site primary of 1,000
        tenants, which starved its event loop during an evacuation."""
        if not self._running:
            return

        def heads() -> dict[str, int]:
            with reading(self.db.engine) as connection:
                return log_heads(connection)

        for tenant, seq in (await anyio.to_thread.run_sync(heads)).items():
            primary = self._running.get(tenant)
            if primary is not None:
                primary.logged(seq)  # wakes its streams when the head moved


def tenant_status(primary: TenantPrimary) -> TenantStatus:
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
