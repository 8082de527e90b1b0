"""The sender: one stream per tenant per replica, at the tenant's primary.

A session starts by asking the replica where its log ends (and in which epoch), and
checks that against this log's epoch history: a log that matches resumes from its
durable seq + 1; one that is too far behind for what this log still holds, or that
holds entries this log does not (it diverged), is bootstrapped from a snapshot.
Then batches go out in order, up to ``window`` in flight at once (pipelined); each
answer moves the replica's acknowledged seq — only as far as entries this session
sent and the replica checked, never on its word alone. Any error ends the session;
the next one starts after a backoff with jitter and resumes from the replica's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import anyio
import httpx

from replication.history import History, epoch_at
from replication.pipe import Pipe, in_thread
from replication.ports import TenantPlacement
from replication.primary import snapshot
from replication.primary.config import ReplicationConfig
from replication.primary.outbox import Outbox, Shipped, read_shipped
from replication.protocol.client import PeerClient, PeerError
from replication.protocol.signing import trailer_input
from replication.protocol.wire import Ack
from replication.sql import reading
from yui.db.database import Database
from yui.tasks import cancel_and_wait

log = logging.getLogger("yui.replication")


@dataclass
class LogView:
    head: int
    log_start: int
    history: History


class Source(Protocol):
    """The tenant's primary as its streams see it (replication.primary.tenant.TenantPrimary):
    where its log stands, and what a stream tells it back."""

    tenant: str
    db: Database
    client: PeerClient
    config: ReplicationConfig
    outbox: Outbox
    head: int
    write_epoch: int
    history: History
    #: the truncation floor told to replicas
    floor: int

    async def log_view(self) -> LogView: ...

    def placement(self) -> TenantPlacement | None: ...

    def acknowledged(self, replica: str, seq: int, *, proven: bool = True) -> None: ...

    def fence(self, reason: str, seal: int | None = None) -> None: ...


class Fenced(Exception):
    """A replica refused this primary's epoch: this site is no longer the primary.
    ``sealed_epoch``: the seal it refused under, when the replica said."""

    def __init__(self, message: str, sealed_epoch: int | None = None) -> None:
        super().__init__(message)
        self.sealed_epoch = sealed_epoch


class SessionOver(Exception):
    """The replica's log is elsewhere than this session assumed; start again."""


@dataclass
class _Sent:
    first: int
    last: int
    first_at: datetime | None
    request: asyncio.Task[Ack]


class ReplicaStream:
    def __init__(self, primary: Source, replica: str) -> None:
        self.primary = primary
        self.replica = replica
        self.tenant = primary.tenant
        #: the replica's durable seq as this primary verified it (None: not yet known)
        self.acked: int | None = None
        #: ``acked`` came from an answer to this primary's own batch, not a session's start
        self._proven = False
        self.state = "starting"
        self.detail: str | None = None
        #: committed_at of the oldest entry sent and not acknowledged
        self._oldest_pending: datetime | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._run(), name=f"replicate {self.tenant}→{self.replica}"
        )

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    def lag_seconds(self) -> float | None:
        if self.acked is None:
            return None
        if self.acked >= self.primary.head:
            return 0.0
        if self._oldest_pending is None:
            return None
        return max(0.0, (datetime.now(UTC) - self._oldest_pending).total_seconds())

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        backoff = self.primary.config.backoff_min
        while True:
            try:
                await self._session()
                backoff = self.primary.config.backoff_min
                continue
            except asyncio.CancelledError:
                raise
            except Fenced as error:
                self.state, self.detail = "fenced", str(error)
                self.primary.fence(str(error), error.sealed_epoch)
                delay = self.primary.config.backoff_max
            except SessionOver as error:
                self.state, self.detail = "resuming", str(error)
                delay = 0.0
            except (httpx.HTTPError, PeerError, OSError) as error:
                self.state, self.detail = "unreachable", f"{type(error).__name__}: {error}"
                delay = backoff
                backoff = min(backoff * 2, self.primary.config.backoff_max)
            except Exception as error:
                log.exception("tenant %s → %s: replication error", self.tenant, self.replica)
                self.state, self.detail = "error", f"{type(error).__name__}: {error}"
                delay = backoff
                backoff = min(backoff * 2, self.primary.config.backoff_max)
            await self._sleep(delay * (0.5 + random.random() / 2) if delay else 0.0)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _session(self) -> None:
        primary = self.primary
        status = await primary.client.status(self.replica, self.tenant)
        view = await primary.log_view()
        durable = status.durable_seq
        if durable > view.head or epoch_at(view.history, durable) != status.durable_epoch:
            await self._bootstrap(f"its log diverged at or before seq {durable}")
            return
        if durable < view.log_start - 1:
            await self._bootstrap(f"it holds up to {durable}; this log starts at {view.log_start}")
            return
        if view.head - durable > primary.config.snapshot_over:
            await self._bootstrap(f"it is {view.head - durable} entries behind")
            return
        self._acknowledged(durable, resume=True, proven=False)
        self.state, self.detail = "streaming", None
        await self._stream(durable + 1)

    async def _stream(self, next_seq: int) -> None:
        primary, config = self.primary, self.primary.config
        sent: deque[_Sent] = deque()
        idle_since = time.monotonic()
        interval = config.heartbeat_seconds
        try:
            while True:
                # Group commit: while a batch is in flight the next one gathers every
                # write that commits meanwhile; only a backlog of full batches is pipelined.
                while next_seq <= primary.head and (
                    not sent
                    or (
                        len(sent) < config.window
                        and primary.head - next_seq >= config.batch_entries
                    )
                ):
                    self._wake.clear()
                    taken = primary.outbox.take(next_seq, config.batch_entries)
                    if taken is None:  # not in memory (catching up): from the log
                        taken = await anyio.to_thread.run_sync(
                            self._read, next_seq, config.batch_entries
                        )
                    entries, complete = taken
                    if not entries:
                        break
                    sent.append(self._send(next_seq - 1, entries, complete))
                    next_seq = entries[-1].seq + 1
                    interval = config.heartbeat_seconds
                if not sent:
                    # Entries another process logged (the jobs worker, the CLI) arrive
                    # through the node's `refresh_heads`, which wakes this stream.
                    idle = time.monotonic() - idle_since
                    if idle < interval:
                        self._wake.clear()
                        if next_seq > primary.head:  # still nothing new: wait to be woken
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(self._wake.wait(), interval - idle)
                        continue
                    interval = self._next_interval(interval)
                    sent.append(self._send(next_seq - 1, [], True))
                item = sent.popleft()
                ack = await item.request
                idle_since = time.monotonic()
                self._answer(item, ack)
                self._oldest_pending = sent[0].first_at if sent else None
        finally:
            for item in sent:
                item.request.cancel()

    def _next_interval(self, interval: float) -> float:
        """The wait before the heartbeat after this one: doubled while the replica is in
        sync and holds the head (nothing to tell it but "still here"), the base again
        otherwise — a replica out of the set rejoins on an answer, so it hears soon."""
        config = self.primary.config
        placement = self.primary.placement()
        caught_up = (
            placement is not None
            and self.replica in placement.in_sync
            and self.acked is not None
            and self.acked >= self.primary.head
        )
        if not caught_up:
            return config.heartbeat_seconds
        return min(max(interval * 2, config.heartbeat_seconds), config.idle_heartbeat_seconds)

    def _read(self, first: int, count: int) -> tuple[list[Shipped], bool]:
        with reading(self.primary.db.engine) as connection:
            return read_shipped(connection, self.tenant, first, count)

    def _send(self, prev_seq: int, entries: list[Shipped], complete: bool) -> _Sent:
        primary = self.primary
        head = json.dumps(
            {
                "epoch": primary.write_epoch,
                "prev_seq": prev_seq,
                "prev_epoch": epoch_at(primary.history, prev_seq) if prev_seq else None,
                "complete": complete,
                "primary_seq": primary.head,
                "truncate_below": primary.floor,
            },
            separators=(",", ":"),
        ).encode()
        body = head[:-1] + b',"entries":[' + b",".join(e.json for e in entries) + b"]}"
        request = asyncio.create_task(
            primary.client.send_batch(
                self.replica, self.tenant, body, time_limit=primary.config.request_timeout
            )
        )
        first_at = entries[0].at if entries else None
        if self._oldest_pending is None:
            self._oldest_pending = first_at
        last = entries[-1].seq if entries else prev_seq
        return _Sent(prev_seq + 1, last, first_at, request)

    def _answer(self, item: _Sent, ack: Ack) -> None:
        if ack.status == "ok":
            self._acknowledged(min(ack.durable_seq, item.last))
            return
        if ack.status == "fenced":
            raise Fenced(
                f"{self.replica} は封印 {ack.sealed_epoch} でこの主系を拒否しました / "
                f"{self.replica} is sealed at epoch {ack.sealed_epoch}: {ack.detail}",
                ack.sealed_epoch,
            )
        if ack.status == "apply-failed":
            self.state, self.detail = "stalled", ack.detail
            raise SessionOver(f"the replica cannot apply: {ack.detail}")
        raise SessionOver(f"{ack.status}: {ack.detail}")  # gap, diverged: a new session decides

    def _acknowledged(self, seq: int, *, resume: bool = False, proven: bool = True) -> None:
        """The replica holds every entry up to ``seq`` as this log has them. On a new
        session its word may be lower than before (it lost its last writes): believed."""
        if self.acked is None or seq > self.acked or resume:
            self.acked, self._proven = seq, proven
        elif proven and not self._proven:
            self._proven = True
        elif not proven:
            return
        # Every answer counts, even one that adds nothing: it may be what lets an idle,
        # caught-up replica rejoin the in-sync set once its wait after a drop is over.
        self.primary.acknowledged(self.replica, self.acked, proven=self._proven)

    # ------------------------------------------------------------------ snapshot

    async def _bootstrap(self, why: str) -> None:
        primary = self.primary
        self.state, self.detail = "snapshot", why
        log.info("tenant %s → %s: snapshot bootstrap (%s)", self.tenant, self.replica, why)
        pipe: Pipe[bytes | None] = Pipe(8)

        def produce() -> int:
            try:
                return snapshot.produce(primary.db, self.tenant, primary.write_epoch, pipe)
            finally:
                pipe.close()

        producer = in_thread(produce, f"snapshot {self.tenant}")

        async def body(header_signature: str) -> AsyncIterator[bytes]:
            hasher = hashlib.sha256()
            try:
                while (chunk := await pipe.aget()) is not None:
                    hasher.update(chunk)
                    yield chunk
                digest = hasher.hexdigest()
                signature = primary.client.key.sign(trailer_input(header_signature, digest))
                trailer = {"trailer": {"sha256": digest, "signature": signature}}
                yield json.dumps(trailer).encode() + b"\n"
            finally:
                pipe.close()

        try:
            ack = await primary.client.send_snapshot(self.replica, self.tenant, body)
        finally:
            pipe.close()
            with contextlib.suppress(Exception):
                await producer
        if ack.status == "fenced":
            raise Fenced(f"{self.replica} refused the snapshot: {ack.detail}", ack.sealed_epoch)
        if ack.status != "ok":
            raise SessionOver(f"snapshot: {ack.status}: {ack.detail}")
        self._acknowledged(ack.durable_seq, resume=True)
