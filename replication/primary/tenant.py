"""One tenant at its primary: its replica streams, their acknowledgements, the in-sync
set, and the wait a write makes before it is acknowledged.

Sync mode: a write is acknowledged when every member of the in-sync set (ISR) holds
its last entry. A member that has not within ``ack_timeout`` is removed from the ISR
by a compare-and-swap on the placement FIRST; only when that CAS succeeded is the
write acknowledged without it. If removing it would leave fewer than ``min_insync``
members, or the primary and the rest inside one hazard zone (``min_insync_zones``,
replication/primary/zones.py), nothing is removed and the write gets a 503 — the ISR still
names replicas holding every acknowledged entry, so one of them can be promoted. A replica that has
caught up joins again: it first counts for every new acknowledgement (joining), and
once it holds everything the primary had, a CAS adds it to the ISR.

Async mode: a write is acknowledged after the local commit; the ISR is kept by lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from replication.entries import writer_history
from replication.history import History
from replication.ports import Placements, TenantPlacement
from replication.primary.config import ReplicationConfig
from replication.primary.outbox import Outbox
from replication.primary.stream import LogView, ReplicaStream
from replication.primary.zones import zone_rule_gaps
from replication.protocol.client import PeerClient
from replication.protocol.wire import PauseOut
from replication.sql import reading
from replication.state import read
from yui.db.database import Database
from yui.errors import Unavailable
from yui.tasks import cancel_and_wait

log = logging.getLogger("yui.replication")


class NotReplicated(Unavailable):
    """The write is committed at the primary but not where the mode promises."""

    slug = "not-replicated"
    title = "複製が確認できません / Replication not confirmed"


class NotEnoughInSync(Unavailable):
    slug = "not-enough-in-sync"
    title = "同期レプリカが不足しています / Not enough in-sync replicas"

    def __init__(self, detail: str) -> None:
        # A replica back within a probe interval or two mends it: tell clients when to retry.
        super().__init__(detail, retry_after=PAUSE_RETRY_AFTER)


class Deposed(Unavailable):
    slug = "deposed"
    title = "このサイトは主系ではなくなりました / This site is no longer the primary"


class WritesPaused(Unavailable):
    """A planned move (switchover) holds the tenant's writes for a moment: retry."""

    slug = "writes-paused"
    title = "切り替え中のため書き込みを一時停止しています / Writes paused for a switchover"


class TakingOver(Unavailable):
    """The placement already names this site, but it has not yet taken the tenant over
    (sealed its epoch and started its streams): a write now would be logged outside any
    epoch, and promotion would cut its entry off while its rows stayed — retry."""

    slug = "taking-over"
    title = "主系を引き継いでいます / Taking over as the primary"


#: what a paused write's 503 tells the client to wait (seconds, the Retry-After header)
PAUSE_RETRY_AFTER = 1


class PlacementUnknown(Unavailable):
    """This site holds a copy of the tenant but does not know its placement (the cluster
    view is not loaded yet, e.g. a node started while etcd was unreachable): it cannot
    tell whether it is the primary, so it takes no write and acknowledges none."""

    slug = "placement-unknown"
    title = "配置を確認できません / Placement not known yet"


def placement_unknown(site: str, tenant: str) -> PlacementUnknown:
    return PlacementUnknown(
        f"{site} はテナント {tenant} の写しを持っていますが、配置 (主系がどこか) をまだ確認できません。"
        f"書き込みは受け付けていません。{PAUSE_RETRY_AFTER} 秒後に再試行してください / {site} holds a "
        f"copy of tenant {tenant} but does not know its placement yet (the coordination "
        f"service has not answered): it cannot tell whether it is the primary, so nothing was "
        f"written or acknowledged; retry in {PAUSE_RETRY_AFTER} s",
        retry_after=PAUSE_RETRY_AFTER,
    )


class Context(Protocol):
    """What a tenant's primary needs from its node."""

    site: str
    db: Database
    client: PeerClient
    placements: Placements
    config: ReplicationConfig


@dataclass
class _Joining:
    replicas: set[str] = field(default_factory=set)
    not_before: dict[str, float] = field(default_factory=dict)


class TenantPrimary:
    def __init__(self, node: Context, tenant: str) -> None:
        self.node = node
        self.tenant = tenant
        self.site = node.site
        self.db = node.db
        self.client = node.client
        self.config = node.config
        self.head = 0
        self.write_epoch = 0
        self.history: History = []
        self.log_start = 1
        #: the truncation floor told to replicas
        self.floor = 0
        self.outbox = Outbox()
        self.streams: dict[str, ReplicaStream] = {}
        self.acked: dict[str, int] = {}
        self.fenced: str | None = None
        #: the placement's epoch when this primary was fenced (or when it last tried to
        #: take the tenant again): a placement rewritten above it names this site anew
        self.fenced_under = 0
        #: the highest seal this primary was fenced by (0: none said): a placement naming
        #: this site at or above it was written after that seal's promotion read its
        #: revision, so that promotion's compare-and-swap can no longer succeed
        self.fenced_by = 0
        #: new writes are refused (retryable 503) until then (time.monotonic; a planned move)
        self.paused_until = 0.0
        self._joining = _Joining()
        #: replica → the epoch its expansion expected, when that CAS failed without an
        #: answer: etcd may have applied it (and list the replica) though we never heard
        self._unsettled: dict[str, int] = {}
        self._cas_placement: TenantPlacement | None = None
        self._changed = asyncio.Event()
        self._isr_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def load(self) -> None:
        def load() -> LogView:
            with reading(self.db.engine) as connection:
                state = read(connection, self.tenant)
                self.write_epoch = state.write_epoch
                return LogView(state.head, state.log_start, writer_history(connection, state))

        view = await anyio.to_thread.run_sync(load)
        self.head = max(self.head, view.head)
        self.log_start, self.history = view.log_start, view.history
        self.outbox.begin_after(self.head)

    async def refresh_head(self) -> bool:
        """Re-read the log head (another process may have written); True if it moved."""

        def head() -> int:
            with reading(self.db.engine) as connection:
                return read(connection, self.tenant).head

        seq = await anyio.to_thread.run_sync(head)
        moved = seq > self.head
        self.logged(seq)
        return moved

    async def log_view(self) -> LogView:
        await self.load()
        return LogView(self.head, self.log_start, self.history)

    def follow(self, placement: TenantPlacement) -> None:
        """Run exactly one stream per replica of the placement."""
        for replica in placement.replicas:
            if replica not in self.streams and replica != self.site:
                stream = ReplicaStream(self, replica)
                self.streams[replica] = stream
                stream.start()
        for replica in [r for r in self.streams if r not in placement.replicas]:
            self._spawn(self.streams.pop(replica).stop)
            self.acked.pop(replica, None)

    async def stop(self) -> None:
        for stream in self.streams.values():
            await stream.stop()
        self.streams.clear()
        for task in list(self._tasks):
            await cancel_and_wait(task)

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await work()

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ events

    def placement(self) -> TenantPlacement | None:
        """The newest placement known: the coordination view's, or our own CAS result."""
        viewed = self.node.placements.placement(self.tenant)
        mine = self._cas_placement
        if mine is not None and (viewed is None or mine.epoch > viewed.epoch):
            return mine
        return viewed

    def _adopt(self, placement: TenantPlacement | None) -> None:
        if placement is not None and (
            self._cas_placement is None or placement.epoch > self._cas_placement.epoch
        ):
            self._cas_placement = placement
        self._notify()

    def logged(self, seq: int) -> None:
        if seq > self.head:
            self.head = seq
            for stream in self.streams.values():
                stream.wake()

    def acknowledged(self, replica: str, seq: int, *, proven: bool = True) -> None:
        """``proven``: the replica took a batch (or snapshot) of this epoch. Its word at the
        start of a session is not enough to join the in-sync set: a deposed primary just
        thawed still answers for its old epoch, would join, then stall every write."""
        self.acked[replica] = seq
        self._notify()
        placement = self.placement()
        if (
            proven
            and placement is not None
            and placement.primary == self.site
            and replica in placement.replicas
            and replica not in placement.in_sync
            and replica not in self._joining.replicas
            and seq >= self.head
            and time.monotonic() >= self._joining.not_before.get(replica, 0.0)
        ):
            self._joining.replicas.add(replica)
            self._spawn(lambda: self._join(replica))

    def fence(self, reason: str, seal: int | None = None) -> None:
        if self.fenced is None:
            log.error("tenant %s: fenced: %s", self.tenant, reason)
            placement = self.placement()
            self.fenced_under = placement.epoch if placement is not None else 0
        self.fenced = reason
        self.fenced_by = max(self.fenced_by, seal or 0)
        self._notify()

    # ------------------------------------------------------------------ writes

    def check_writable(self) -> None:
        """Before a commit (the write gate; any thread): refuse what could not be
        acknowledged anyway."""
        if self.fenced is not None:
            raise Deposed(self.fenced)
        if time.monotonic() < self.paused_until:
            raise WritesPaused(
                f"テナント {self.tenant} は主系の切り替え中です。{PAUSE_RETRY_AFTER} 秒後に再試行して"
                f"ください / tenant {self.tenant} is switching its primary: retry in "
                f"{PAUSE_RETRY_AFTER} s (nothing was written)",
                retry_after=PAUSE_RETRY_AFTER,
            )
        placement = self.placement()
        if placement is None:  # placed once (that is why we run): never a lone site
            raise placement_unknown(self.site, self.tenant)
        if placement.primary != self.site or placement.mode != "sync":
            return
        if (
            shortfall := _shortfall(placement, placement.in_sync, self.acked, self.head)
        ) is not None:
            raise NotEnoughInSync(shortfall)

    async def wait_replicated(self, seq: int) -> None:
        """Return once the write ending at ``seq`` may be acknowledged, or raise 503."""
        self.logged(seq)
        deadline = time.monotonic() + self.config.ack_timeout
        attempts = 0
        while True:
            if self.fenced is not None:
                raise NotReplicated(self.fenced)
            placement = self.placement()
            if placement is None:  # placed once (that is why we run): never a lone site
                raise placement_unknown(self.site, self.tenant)
            if placement.primary != self.site:
                raise Deposed(
                    f"テナント {self.tenant} の主系は {placement.primary} に移りました。この書き込みは"
                    f"確定していません / the primary of {self.tenant} moved to {placement.primary} "
                    "while this write waited: it is not acknowledged; retry (the new primary answers)"
                )
            if placement.mode == "async":
                return
            shortfall = _shortfall(placement, placement.in_sync, self.acked, self.head)
            if shortfall is not None:
                raise NotEnoughInSync(shortfall)
            required = set(placement.in_sync) | self._joining.replicas | self._maybe_in_sync()
            if all(self.acked.get(r, -1) >= seq for r in required):
                return
            remaining = deadline - time.monotonic()
            if remaining > 0:
                # asyncio.timeout, not wait_for: no task per wake-up of every waiting write
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._changed.wait()
                continue
            attempts += 1
            if attempts > self.config.cas_attempts:
                raise NotReplicated(
                    f"テナント {self.tenant} の同期集合を更新できません / could not settle the in-sync "
                    f"set of {self.tenant} (placement kept changing); the write is saved at "
                    "the primary but not acknowledged"
                )
            await self._drop_laggards(seq)

    # ------------------------------------------------------------------ planned moves

    async def pause(self, ttl: float, wait: float) -> PauseOut:
        """Refuse new writes (retryable 503) for up to ``ttl`` seconds; return once every
        in-sync replica holds the log head (re-read from the database: a commit that
        passed the write gate just before the pause is counted once it lands; one that
        lands later still is refused by the mover's seal of the new primary)."""
        started = time.monotonic()
        self.paused_until = started + ttl
        deadline = started + wait
        while True:
            placement = self.placement()
            if self.fenced is not None or placement is None or placement.primary != self.site:
                self.resume()
                raise Deposed(
                    self.fenced
                    or f"{self.site} はテナント {self.tenant} の主系ではありません / {self.site} "
                    f"is not the primary of {self.tenant}"
                )
            await self.refresh_head()
            if all(self.acked.get(r, -1) >= self.head for r in placement.in_sync):
                return PauseOut(
                    tenant=self.tenant,
                    site=self.site,
                    head_seq=self.head,
                    epoch=placement.epoch,
                    in_sync=list(placement.in_sync),
                    acked={r: self.acked.get(r, -1) for r in placement.in_sync},
                    waited_seconds=time.monotonic() - started,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.resume()
                behind = ", ".join(
                    f"{r} (at {self.acked.get(r, '?')})"
                    for r in placement.in_sync
                    if self.acked.get(r, -1) < self.head
                )
                raise NotReplicated(
                    f"同期レプリカが {wait:g} 秒以内に追いつきません / the in-sync replicas of "
                    f"{self.tenant} did not reach seq {self.head} within {wait:g} s (behind: "
                    f"{behind or 'none'}); writes resume"
                )
            for stream in self.streams.values():
                stream.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.02))

    def resume(self) -> None:
        self.paused_until = 0.0

    async def _drop_laggards(self, seq: int) -> None:
        async with self._isr_lock:
            for replica in list(self._joining.replicas):
                if self.acked.get(replica, -1) < seq:
                    self._joining.replicas.discard(replica)  # never in the ISR: no CAS needed
                    self._joining.not_before[replica] = time.monotonic() + self.config.ack_timeout
            placement = self.placement()
            if placement is None or placement.primary != self.site:
                return
            lagging = [r for r in placement.in_sync if self.acked.get(r, -1) < seq]
            # A replica an unanswered expansion may have added goes too: the shrink's
            # answer (or its conflict's placement) settles whether etcd lists it.
            lagging += [r for r in self._maybe_in_sync() if self.acked.get(r, -1) < seq]
            if not lagging:
                self._notify()
                return
            keeping = [r for r in placement.in_sync if r not in lagging]
            shortfall = _shortfall(placement, keeping, self.acked, seq, lagging)
            if shortfall is not None:
                # Nothing is removed: the ISR still names copies holding every
                # acknowledged entry, across the zones the tenant asks for.
                raise NotEnoughInSync(shortfall)
            change = await self.node.placements.shrink_isr(self.tenant, lagging, placement.epoch)
            for replica in lagging:  # back once it keeps up again, not at its next word
                self._joining.not_before[replica] = time.monotonic() + self.config.ack_timeout
            if change.ok:
                log.warning(
                    "tenant %s: removed %s from the in-sync set (no ack of seq %d within %.1f s)",
                    self.tenant,
                    ", ".join(lagging),
                    seq,
                    self.config.ack_timeout,
                )
            self._adopt(change.placement)

    async def _join(self, replica: str) -> None:
        try:
            target = self.head
            deadline = time.monotonic() + self.config.ack_timeout
            while self.acked.get(replica, -1) < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            async with self._isr_lock:
                placement = self.placement()
                if (
                    placement is None
                    or placement.primary != self.site
                    or replica in placement.in_sync
                    or replica not in placement.replicas
                    or replica not in self._joining.replicas
                ):
                    return
                try:
                    change = await self.node.placements.expand_isr(
                        self.tenant, [replica], placement.epoch
                    )
                except Unavailable:
                    # Ambiguous: the CAS may have been applied. Until a placement newer
                    # than the one it expected is known, count the replica as a member.
                    self._unsettled[replica] = placement.epoch
                    raise
                if change.ok:
                    log.info("tenant %s: %s is in sync again", self.tenant, replica)
                self._adopt(change.placement)
        except Exception:
            log.exception("tenant %s: could not add %s to the in-sync set", self.tenant, replica)
        finally:
            self._joining.replicas.discard(replica)
            self._joining.not_before[replica] = time.monotonic() + self.config.ack_timeout / 2
            self._notify()

    def _maybe_in_sync(self) -> set[str]:
        """Replicas an unanswered expansion may have added: required for every
        acknowledgement until a placement newer than the one it expected is known (that
        one says what etcd holds; the expansion can no longer apply after it)."""
        if not self._unsettled:
            return set()
        placement = self.placement()
        epoch = placement.epoch if placement is not None else 0
        for replica, expected in list(self._unsettled.items()):
            if epoch > expected:
                del self._unsettled[replica]
        return set(self._unsettled)

    async def upkeep(self) -> None:
        """Async mode: a member lagging longer than ``ack_timeout`` leaves the ISR (never
        below min_insync nor against the zone rule, so someone stays promotable)."""
        placement = self.placement()
        if placement is None or placement.primary != self.site or placement.mode != "async":
            return
        lagging = [
            r
            for r in placement.in_sync
            if (stream := self.streams.get(r)) is not None
            and (lag := stream.lag_seconds()) is not None
            and lag > self.config.ack_timeout
        ]
        keeping = [r for r in placement.in_sync if r not in lagging]
        if lagging and _shortfall(placement, keeping, self.acked, self.head, lagging) is None:
            async with self._isr_lock:
                change = await self.node.placements.shrink_isr(
                    self.tenant, lagging, placement.epoch
                )
                self._adopt(change.placement)

    @property
    def joining(self) -> set[str]:
        return set(self._joining.replicas)


def _shortfall(
    placement: TenantPlacement,
    in_sync: Sequence[str],
    acked: dict[str, int],
    seq: int,
    lagging: list[str] | None = None,
) -> str | None:
    """Why ``in_sync`` cannot back an acknowledgement (Japanese / English), or None: fewer
    than ``min_insync`` members, or every member inside a hazard zone the primary is in."""
    behind = ", ".join(f"{r} (at {acked.get(r, '?')})" for r in (lagging or placement.replicas))
    if len(in_sync) < placement.min_insync:
        return (
            f"テナント {placement.tenant} の同期レプリカは {len(in_sync)} で、"
            f"min_insync={placement.min_insync} に足りません。書き込みは確認できないため拒否します"
            f" / tenant {placement.tenant} has {len(in_sync)} in-sync replica(s), below "
            f"min_insync={placement.min_insync}: writes are refused so that nothing is "
            f"acknowledged that is not at another site. Behind seq {seq}: {behind or 'none'}; "
            "retry once they catch up"
        )
    gaps = zone_rule_gaps(placement.primary, in_sync, placement.zones, placement.min_insync_zones)
    if not gaps:
        return None
    lost = " / ".join(" + ".join(gap) for gap in gaps)
    return (
        f"テナント {placement.tenant} の同期コピーは、ハザードゾーン {lost} を失うとすべて失われます"
        f"（min_insync_zones={placement.min_insync_zones}: 主系 {placement.primary} のゾーンの外に"
        f"同期コピーが必要です）。書き込みは確認できないため拒否します / tenant "
        f"{placement.tenant}: the primary {placement.primary} and its in-sync copies "
        f"({', '.join(in_sync) or 'none'}) would all be lost with hazard zone {lost} "
        f"(min_insync_zones={placement.min_insync_zones}: a write must reach a copy outside "
        f"the primary's zones): writes are refused rather than acknowledged inside one zone. "
        f"Behind seq {seq}: {behind or 'none'}; retry once they catch up"
    )
