"""A site's replica side: what the ``/replication/v1`` endpoints do with this site's
copies (replication.replica.api is the thin HTTP layer over it).

Batches of one tenant are taken one at a time, in order: a batch that arrives before
the one it follows (pipelined requests race) waits briefly for it, and gets ``gap`` if
it never comes. Seals, promotions, holds and snapshots take the same per-tenant turn.
The database work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from replication.pipe import Pipe, PipeClosed, in_thread
from replication.protocol import many
from replication.protocol.signing import SignatureError, TrustStore
from replication.protocol.wire import (
    Ack,
    Batch,
    DigestOut,
    QuarantineOut,
    ReplicaStatus,
    SealOut,
    TableDigest,
)
from replication.replica import quarantine, roles
from replication.replica.batches import apply_pending, receive_batch
from replication.replica.lag import CopyLag
from replication.replica.snapshot import ABORT, COMMIT, Loader, LoaderItem, SnapshotError
from replication.sql import reading
from replication.state import CopyState, all_states, read
from replication.verify.digest import tenant_digest
from yui.db.database import Database
from yui.errors import Conflict, InvalidInput, Unavailable

#: how long a batch that arrived early waits for the one before it
REORDER_WAIT_SECONDS = 2.0


class Primaries(Protocol):
    """What the replica side tells this site's primaries (replication.primary.primaries):
    a seal above a primary's epoch deposes it; a promotion starts one; a planned move
    that ends resumes one's writes."""

    def sealed(self, tenant: str, epoch: int) -> None: ...

    async def promoted(self, tenant: str) -> None: ...

    async def promoted_many(self, tenants: list[str]) -> None: ...

    def resume_writes(self, tenant: str) -> bool: ...


@dataclass
class _Gate:
    """One tenant's turn-taking at this replica."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    head: int | None = None
    hold: int | None = None
    hold_until: float = 0.0

    def moved(self, head: int) -> None:
        self.head = head
        self.changed.set()
        self.changed = asyncio.Event()

    def current_hold(self) -> int | None:
        if self.hold is not None and time.monotonic() > self.hold_until:
            self.hold = None
        return self.hold


class Receiver:
    def __init__(
        self,
        site: str,
        db: Database,
        trust: TrustStore,
        primaries: Primaries,
        reorder_wait: float = REORDER_WAIT_SECONDS,
    ) -> None:
        self.site = site
        self.db = db
        self.trust = trust
        self.primaries = primaries
        self.reorder_wait = reorder_wait
        self.gates: dict[str, _Gate] = {}
        #: how far each copy here lags its primary (the gateway states it on reads)
        self.lag = CopyLag()
        # A copy written here (this site was its primary) holds what no primary sent.
        db.on_logged.append(lambda tenant, _seq, _rows: self.lag.forget(tenant))

    def gate(self, tenant: str) -> _Gate:
        return self.gates.setdefault(tenant, _Gate())

    async def state(self, tenant: str) -> CopyState:
        def load() -> CopyState:
            with reading(self.db.engine) as connection:
                return read(connection, tenant)

        return await anyio.to_thread.run_sync(load)

    async def take(self, tenant: str, source: str, batch: Batch) -> Ack:
        gate = self.gate(tenant)
        if gate.head is None:
            gate.head = (await self.state(tenant)).head
        deadline = time.monotonic() + self.reorder_wait
        while gate.head is not None and batch.prev_seq > gate.head:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gate.changed.wait(), remaining)
        async with gate.lock:
            ack = await anyio.to_thread.run_sync(
                receive_batch, self.db, tenant, source, batch, gate.current_hold()
            )
            gate.moved(ack.durable_seq)
        if ack.status == "diverged":
            self.lag.forget(tenant)  # holds entries its primary does not: no replica reads
        elif ack.status != "fenced":  # a fenced sender is not the primary
            self.lag.heard(tenant, source, batch.primary_seq, ack.applied_seq)
        if ack.status == "ok" and ack.sealed_epoch:
            self.primaries.sealed(tenant, ack.sealed_epoch)
        return ack

    async def take_snapshot(
        self, tenant: str, source: str, header_signature: str, body: AsyncIterator[bytes]
    ) -> Ack:
        gate = self.gate(tenant)
        self.lag.forget(tenant)  # the copy is being replaced: the next batch tells its lag
        async with gate.lock:
            pipe: Pipe[LoaderItem] = Pipe(16)
            loader = Loader(self.db, tenant, source, pipe)
            loading = in_thread(loader.run, f"load snapshot {tenant}")
            # A loader that ends (done, refused, or failed: a busy site's "database is
            # locked") takes nothing more: closing the pipe frees a feed waiting to put into
            # it, which otherwise waited for ever holding this tenant's gate.
            loading.add_done_callback(lambda _: pipe.close())
            try:
                await _feed(body, pipe, loading, header_signature, source, self.trust)
                ack = await loading
            except (SnapshotError, SignatureError, PipeClosed) as error:
                pipe.close()
                with contextlib.suppress(Exception):
                    await loading
                if isinstance(error, SignatureError):
                    raise
                raise InvalidInput(
                    f"スナップショットが不正です / bad snapshot stream: {error}"
                ) from None
            except BaseException:
                pipe.close()
                raise
            gate.moved(ack.durable_seq)
        if ack.sealed_epoch:
            self.primaries.sealed(tenant, ack.sealed_epoch)
        return ack

    # ------------------------------------------------------------------ copy state

    async def status(self, tenant: str) -> ReplicaStatus:
        return copy_status(self.site, await self.state(tenant), self.gate(tenant).current_hold())

    async def statuses(self, tenants: list[str]) -> many.ManyOut[ReplicaStatus]:
        states = await anyio.to_thread.run_sync(read_states, self.db, tenants)
        answers: many.Answers[ReplicaStatus] = {
            t: copy_status(self.site, s, self.gate(t).current_hold()) for t, s in states.items()
        }
        return many.ManyOut(site=self.site, results=many.outcomes(answers))

    async def copies(self) -> list[ReplicaStatus]:
        """Every copy at this site, with its role as saved (the node's status)."""

        def load() -> list[CopyState]:
            with reading(self.db.engine) as connection:
                return all_states(connection)

        return [
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
                hold=self.gate(s.tenant).current_hold(),
            )
            for s in await anyio.to_thread.run_sync(load)
        ]

    # ------------------------------------------------------------------ roles

    async def seal(self, tenant: str, epoch: int) -> SealOut:
        async with self.gate(tenant).lock:
            state = await anyio.to_thread.run_sync(roles.seal, self.db, tenant, epoch)
        self.primaries.sealed(tenant, state.sealed_epoch)
        return _sealed(tenant, state)

    async def seal_many(self, epochs: dict[str, int]) -> many.ManyOut[SealOut]:
        async with many.all_locked({t: self.gate(t).lock for t in epochs}):
            states = await anyio.to_thread.run_sync(roles.seal_many, self.db, epochs)
        answers: many.Answers[SealOut] = {}
        for tenant, state in states.items():
            self.primaries.sealed(tenant, state.sealed_epoch)
            answers[tenant] = _sealed(tenant, state)
        return many.ManyOut(site=self.site, results=many.outcomes(answers))

    async def promote(self, tenant: str, epoch: int) -> ReplicaStatus:
        gate = self.gate(tenant)
        async with gate.lock:
            state = await anyio.to_thread.run_sync(
                roles.become_primary, self.db, tenant, epoch, self.site
            )
            gate.moved(state.head)
        await self.primaries.promoted(tenant)
        return copy_status(self.site, state, None)

    async def promote_many(self, epochs: dict[str, int]) -> many.ManyOut[ReplicaStatus]:
        async with many.all_locked({t: self.gate(t).lock for t in epochs}):
            states = await anyio.to_thread.run_sync(
                roles.become_primaries, self.db, epochs, self.site
            )
            for tenant, state in states.items():
                if not isinstance(state, Exception):
                    self.gate(tenant).moved(state.head)
        await self.primaries.promoted_many(
            [t for t, s in states.items() if not isinstance(s, Exception)]
        )
        answers: many.Answers[ReplicaStatus] = {
            t: s if isinstance(s, Exception) else copy_status(self.site, s, None)
            for t, s in states.items()
        }
        return many.ManyOut(site=self.site, results=many.outcomes(answers))

    async def resume(self, tenant: str) -> ReplicaStatus:
        """A planned move ended: writes resume here if this site is still the primary."""
        self.primaries.resume_writes(tenant)
        return await self.status(tenant)

    async def resume_many(self, tenants: list[str]) -> many.ManyOut[ReplicaStatus]:
        for tenant in tenants:
            self.primaries.resume_writes(tenant)
        return await self.statuses(tenants)

    # ------------------------------------------------------------------ holds, digests

    async def hold(self, tenant: str, seq: int | None, ttl_seconds: float) -> ReplicaStatus:
        """Apply nothing past ``seq`` (None: what is applied now) for ``ttl_seconds``."""
        gate = self.gate(tenant)
        async with gate.lock:
            state = await self.state(tenant)
            if seq is not None and seq < state.applied_seq:
                raise Conflict(
                    f"既に {state.applied_seq} まで適用済みです / already applied up to "
                    f"{state.applied_seq}, beyond {seq}"
                )
            gate.hold = state.applied_seq if seq is None else seq
            gate.hold_until = time.monotonic() + ttl_seconds
            if gate.hold > state.applied_seq:
                state = await anyio.to_thread.run_sync(apply_pending, self.db, tenant, gate.hold)
        return copy_status(self.site, state, gate.hold)

    async def release(self, tenant: str) -> ReplicaStatus:
        gate = self.gate(tenant)
        async with gate.lock:
            gate.hold = None
            state = await anyio.to_thread.run_sync(apply_pending, self.db, tenant, None)
        return copy_status(self.site, state, None)

    async def digest(self, tenant: str, seq: int | None, wait: float) -> DigestOut:
        """The copy's digest once it has applied exactly ``seq`` (None: now)."""
        gate = self.gate(tenant)
        deadline = time.monotonic() + wait
        while True:
            async with gate.lock:
                state = await self.state(tenant)
                if seq is None or state.applied_seq == seq:
                    result = await anyio.to_thread.run_sync(tenant_digest, self.db, tenant)
                    break
                if state.applied_seq > seq:
                    raise Conflict(
                        f"既に {state.applied_seq} まで適用済み / this copy applied up to "
                        f"{state.applied_seq}, past {seq} (hold it first)"
                    )
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"seq {seq} に届きません / this copy is at {state.applied_seq}, not {seq}"
                )
            await asyncio.sleep(0.05)
        if seq is not None and result.seq != seq:
            raise Conflict(f"the copy moved to {result.seq} while computing the digest")
        return DigestOut(
            tenant=tenant,
            site=self.site,
            seq=result.seq,
            digest=result.digest,
            tables={
                name: TableDigest(rows=t.rows, digest=t.digest) for name, t in result.tables.items()
            },
        )

    # ------------------------------------------------------------------ quarantine

    async def quarantined(
        self, tenant: str, resolved: bool, offset: int = 0, limit: int = 500
    ) -> list[QuarantineOut]:
        rows = await anyio.to_thread.run_sync(
            lambda: quarantine.listing(
                self.db, tenant, include_resolved=resolved, offset=offset, limit=limit
            )
        )
        return [quarantine_out(self.site, row) for row in rows]

    async def resolve(self, tenant: str, entry_id: int, by: str, note: str) -> QuarantineOut:
        await anyio.to_thread.run_sync(
            lambda: quarantine.resolve(self.db, entry_id, by, note, tenant)
        )
        rows = await anyio.to_thread.run_sync(
            lambda: quarantine.listing(self.db, tenant, include_resolved=True, limit=100_000)
        )
        return quarantine_out(self.site, next(r for r in rows if r["id"] == entry_id))


async def _feed(
    body: AsyncIterator[bytes],
    pipe: Pipe[LoaderItem],
    loading: asyncio.Future[Ack],
    header_signature: str,
    source: str,
    trust: TrustStore,
) -> None:
    """Split the body into lines for the loader; check the signed trailer at the end."""
    hasher = hashlib.sha256()
    buffer = b""
    trailer_ok = False
    async for chunk in _until_broken(body):
        if loading.done():  # the loader stopped early (refused, or failed)
            return
        if trailer_ok and chunk:
            raise SnapshotError("bytes after the trailer")
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        batch: list[bytes] = []
        for line in lines:
            if trailer_ok:
                raise SnapshotError("lines after the trailer")
            if line.startswith(b'{"trailer"'):
                trailer = json.loads(line)["trailer"]
                if trailer.get("sha256") != hasher.hexdigest():
                    raise SnapshotError("the stream does not match its trailer's hash")
                trust.verify_trailer(
                    source, header_signature, hasher.hexdigest(), str(trailer.get("signature", ""))
                )
                trailer_ok = True
                continue
            hasher.update(line + b"\n")
            batch.append(line)
        if batch and not await _put(pipe, batch, loading):
            return
    if buffer.strip():
        raise SnapshotError("a partial last line")
    await _put(pipe, COMMIT if trailer_ok else ABORT, loading)


async def _until_broken(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body's chunks; a body that breaks off (its sender went away: the framework's
    client-disconnect error) is a snapshot without its trailer, answered as bad input —
    it was an unhandled error (a 500 in the log) seen in the soak, where a deposed
    primary's snapshot was cut off. Nothing is loaded either way: the loader commits only
    after the signed trailer."""
    chunks = aiter(body)
    while True:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except Exception as error:
            raise SnapshotError(f"the stream broke off ({type(error).__name__})") from None
        yield chunk


async def _put(pipe: Pipe[LoaderItem], item: LoaderItem, loading: asyncio.Future[Ack]) -> bool:
    """Hand ``item`` to the loader; False when the loader has ended (its answer, or its
    error, is the snapshot's)."""
    try:
        await pipe.aput(item)
    except PipeClosed:
        if loading.done():
            return False
        raise
    return True


def read_states(db: Database, tenants: Iterable[str]) -> dict[str, CopyState]:
    """Every tenant's copy state, over one read connection (a worker thread)."""
    with reading(db.engine) as connection:
        return {tenant: read(connection, tenant) for tenant in tenants}


def _sealed(tenant: str, state: CopyState) -> SealOut:
    return SealOut(
        tenant=tenant,
        sealed_epoch=state.sealed_epoch,
        durable_seq=state.head,
        durable_epoch=state.head_epoch,
        applied_seq=state.applied_seq,
    )


def copy_status(site: str, state: CopyState, hold: int | None) -> ReplicaStatus:
    return ReplicaStatus(
        tenant=state.tenant,
        site=site,
        role=state.role if state.head or state.role == "primary" else "empty",
        durable_seq=state.head,
        durable_epoch=state.head_epoch,
        applied_seq=state.applied_seq,
        sealed_epoch=state.sealed_epoch,
        log_start=state.log_start,
        snapshot_seq=state.snapshot_seq,
        epochs=state.epochs,
        source_site=state.source_site,
        primary_seq=state.primary_seq,
        applied_at=state.applied_at,
        stalled=state.stalled,
        hold=hold,
    )


def quarantine_out(site: str, row: dict[str, Any]) -> QuarantineOut:
    return QuarantineOut(
        id=row["id"],
        tenant=row["tenant_id"],
        site=site,
        seq=row["seq"],
        epoch=row["epoch"],
        tx_seq=row["tx_seq"],
        table=row["table_name"],
        op=row["op"],
        pk=row["pk"],
        row=row["row"],
        committed_at=row["committed_at"],
        reason_code=row["reason_code"],
        reason=row["reason"],
        source_site=row["source_site"],
        quarantined_at=row["quarantined_at"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        resolution=row["resolution"],
    )
