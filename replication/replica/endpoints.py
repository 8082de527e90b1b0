"""The replication endpoints of a site (``/replication/v1``): every request must be
signed by a trusted site (replication.protocol.signing).

Batches of one tenant are taken one at a time, in order: a batch that arrives before
the one it follows (pipelined requests race) waits briefly for it, and gets ``gap`` if
it never comes. The database work runs in worker threads.

(No ``from __future__ import annotations`` here: FastAPI resolves the endpoints'
annotations at runtime, and the signed-site dependency is local to ``build_router``.)
"""

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError

from replication.pipe import Pipe, PipeClosed, in_thread
from replication.protocol import many
from replication.protocol.signing import SIGNATURE_HEADER, SignatureError, TrustStore
from replication.protocol.wire import (
    Ack,
    Batch,
    DigestOut,
    HoldIn,
    NodeStatus,
    PauseIn,
    PauseOut,
    PromoteIn,
    QuarantineOut,
    ReplicaStatus,
    ResolveIn,
    SealIn,
    SealOut,
    TableDigest,
)
from replication.replica import quarantine, roles
from replication.replica.batches import apply_pending, receive_batch
from replication.replica.lag import CopyLag
from replication.replica.snapshot import ABORT, COMMIT, Loader, LoaderItem, SnapshotError
from replication.sql import reading
from replication.state import CopyState, read
from replication.verify.digest import tenant_digest
from yui.db.database import Database
from yui.errors import Conflict, InvalidInput, Unavailable

#: the largest batch body taken (bytes); a snapshot is streamed and has no limit
MAX_BATCH_BYTES = 64 * 1024 * 1024
#: how long a batch that arrived early waits for the one before it
REORDER_WAIT_SECONDS = 2.0

TenantPath = Annotated[str, Path(pattern=r"^\d{6}$", description="自治体コード / tenant code")]


class Host(Protocol):
    """What the endpoints need from the site node."""

    site: str
    db: Database
    trust: TrustStore

    def sealed(self, tenant: str, epoch: int) -> None: ...

    async def promoted(self, tenant: str) -> None: ...

    async def node_status(self) -> NodeStatus: ...

    async def pause_writes(self, tenant: str, ttl: float, wait: float) -> PauseOut: ...

    def resume_writes(self, tenant: str) -> bool: ...

    async def pause_many(
        self, tenants: list[str], ttl: float, wait: float
    ) -> many.Answers[PauseOut]: ...

    async def promoted_many(self, tenants: list[str]) -> None: ...


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
    def __init__(self, host: Host, reorder_wait: float = REORDER_WAIT_SECONDS) -> None:
        self.host = host
        self.reorder_wait = reorder_wait
        self.gates: dict[str, _Gate] = {}
        #: how far each copy here lags its primary (the gateway states it on reads)
        self.lag = CopyLag()
        # A copy written here (this site was its primary) holds what no primary sent.
        host.db.on_logged.append(lambda tenant, _seq: self.lag.forget(tenant))

    def gate(self, tenant: str) -> _Gate:
        return self.gates.setdefault(tenant, _Gate())

    async def state(self, tenant: str) -> CopyState:
        def load() -> CopyState:
            with reading(self.host.db.engine) as connection:
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
                receive_batch, self.host.db, tenant, source, batch, gate.current_hold()
            )
            gate.moved(ack.durable_seq)
        if ack.status == "diverged":
            self.lag.forget(tenant)  # holds entries its primary does not: no replica reads
        elif ack.status != "fenced":  # a fenced sender is not the primary
            self.lag.heard(tenant, source, batch.primary_seq, ack.applied_seq)
        if ack.status == "ok" and ack.sealed_epoch:
            self.host.sealed(tenant, ack.sealed_epoch)
        return ack

    async def take_snapshot(self, tenant: str, source: str, request: Request) -> Ack:
        header_signature = request.headers[SIGNATURE_HEADER]
        gate = self.gate(tenant)
        self.lag.forget(tenant)  # the copy is being replaced: the next batch tells its lag
        async with gate.lock:
            pipe: Pipe[LoaderItem] = Pipe(16)
            loader = Loader(self.host.db, tenant, source, pipe)
            loading = in_thread(loader.run, f"load snapshot {tenant}")
            try:
                await _feed(request, pipe, loading, header_signature, source, self.host.trust)
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
        return ack


async def _feed(
    request: Request,
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
    async for chunk in request.stream():
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
        if batch:
            await pipe.aput(batch)
    if buffer.strip():
        raise SnapshotError("a partial last line")
    await pipe.aput(COMMIT if trailer_ok else ABORT)


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


def _status(site: str, state: CopyState, hold: int | None) -> ReplicaStatus:
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


def build_router(host: Host, receiver: Receiver) -> APIRouter:
    """The ``/replication/v1`` endpoints of this site."""

    async def signed(request: Request) -> str:
        """The sending site, verified: a bounded body, then the signature."""
        streaming = request.url.path.endswith("/snapshot")
        body: bytes | None = None
        if not streaming:
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BATCH_BYTES):
                raise InvalidInput(f"本文が大きすぎます / body over {MAX_BATCH_BYTES} bytes")
            body = await request.body()
            if len(body) > MAX_BATCH_BYTES:
                raise InvalidInput(f"本文が大きすぎます / body over {MAX_BATCH_BYTES} bytes")
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = raw_path.decode("latin-1")
        if request.scope.get("query_string"):
            target += "?" + request.scope["query_string"].decode("latin-1")
        return host.trust.verify(request.method, target, request.headers, body)

    Site = Annotated[str, Depends(signed)]
    router = APIRouter(prefix="/replication/v1", tags=["replication"])

    def parsed(model: Callable[[Any], Any], body: bytes) -> Any:
        try:
            return model(body)
        except ValidationError as error:
            raise InvalidInput(
                f"形式が正しくありません / malformed: {error.errors()[0]['msg']}"
            ) from None

    # The batched forms come first: "/batch/..." would otherwise match "/{tenant}/...".
    @router.post(
        "/batch/pause",
        response_model=many.ManyOut[PauseOut],
        summary="一括の書き込み停止 / pause writes of many tenants (a planned move)",
    )
    async def pause_many(_source: Site, request: Request) -> many.ManyOut[PauseOut]:
        body = parsed(many.PauseManyIn.model_validate_json, await request.body())
        answers = await host.pause_many(body.tenants, body.ttl_seconds, body.wait_seconds)
        return many.ManyOut(site=host.site, results=many.outcomes(answers))

    @router.post(
        "/batch/resume",
        response_model=many.ManyOut[ReplicaStatus],
        summary="一括の書き込み再開 / resume writes of many tenants",
    )
    async def resume_many(_source: Site, request: Request) -> many.ManyOut[ReplicaStatus]:
        body = parsed(many.TenantsIn.model_validate_json, await request.body())
        for tenant in body.tenants:
            host.resume_writes(tenant)
        return await statuses(body.tenants)

    @router.post(
        "/batch/status",
        response_model=many.ManyOut[ReplicaStatus],
        summary="複数の複製の状態 / the state of many copies",
    )
    async def status_many(_source: Site, request: Request) -> many.ManyOut[ReplicaStatus]:
        body = parsed(many.TenantsIn.model_validate_json, await request.body())
        return await statuses(body.tenants)

    async def statuses(tenants: list[str]) -> many.ManyOut[ReplicaStatus]:
        states = await anyio.to_thread.run_sync(read_states, host.db, tenants)
        answers: many.Answers[ReplicaStatus] = {
            t: _status(host.site, s, receiver.gate(t).current_hold()) for t, s in states.items()
        }
        return many.ManyOut(site=host.site, results=many.outcomes(answers))

    @router.post(
        "/batch/seal",
        response_model=many.ManyOut[SealOut],
        summary="一括の封印 / seal many tenants, each at its epoch",
    )
    async def seal_many(_source: Site, request: Request) -> many.ManyOut[SealOut]:
        epochs = parsed(many.EpochsIn.model_validate_json, await request.body()).epochs()
        async with many.all_locked({t: receiver.gate(t).lock for t in epochs}):
            states = await anyio.to_thread.run_sync(roles.seal_many, host.db, epochs)
        answers: many.Answers[SealOut] = {}
        for tenant, state in states.items():
            host.sealed(tenant, state.sealed_epoch)
            answers[tenant] = _sealed(tenant, state)
        return many.ManyOut(site=host.site, results=many.outcomes(answers))

    @router.post(
        "/batch/promote",
        response_model=many.ManyOut[ReplicaStatus],
        summary="一括で主系になる / become the primary of many tenants, each at its epoch",
    )
    async def promote_many(_source: Site, request: Request) -> many.ManyOut[ReplicaStatus]:
        epochs = parsed(many.EpochsIn.model_validate_json, await request.body()).epochs()
        async with many.all_locked({t: receiver.gate(t).lock for t in epochs}):
            states = await anyio.to_thread.run_sync(
                roles.become_primaries, host.db, epochs, host.site
            )
            for tenant, state in states.items():
                if not isinstance(state, Exception):
                    receiver.gate(tenant).moved(state.head)
        await host.promoted_many([t for t, s in states.items() if not isinstance(s, Exception)])
        answers: many.Answers[ReplicaStatus] = {
            t: s if isinstance(s, Exception) else _status(host.site, s, None)
            for t, s in states.items()
        }
        return many.ManyOut(site=host.site, results=many.outcomes(answers))

    @router.post(
        "/{tenant}/entries",
        response_model=Ack,
        summary="変更ログの受信 / take a batch of change-log entries",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": Batch.model_json_schema()}},
            }
        },
    )
    async def entries(tenant: TenantPath, source: Site, request: Request) -> Ack:
        batch = parsed(Batch.model_validate_json, await request.body())
        return await receiver.take(tenant, source, batch)

    @router.post(
        "/{tenant}/snapshot",
        response_model=Ack,
        summary="スナップショットの受信 / load a streamed snapshot (NDJSON)",
    )
    async def load_snapshot(tenant: TenantPath, source: Site, request: Request) -> Ack:
        ack = await receiver.take_snapshot(tenant, source, request)
        if ack.sealed_epoch:
            host.sealed(tenant, ack.sealed_epoch)
        return ack

    @router.post("/{tenant}/seal", response_model=SealOut, summary="封印 / seal an epoch")
    async def seal(tenant: TenantPath, _source: Site, request: Request) -> SealOut:
        body = parsed(SealIn.model_validate_json, await request.body())
        async with receiver.gate(tenant).lock:
            state = await anyio.to_thread.run_sync(roles.seal, host.db, tenant, body.epoch)
        host.sealed(tenant, state.sealed_epoch)
        return _sealed(tenant, state)

    @router.post(
        "/{tenant}/promote", response_model=ReplicaStatus, summary="主系になる / become the primary"
    )
    async def promote(tenant: TenantPath, _source: Site, request: Request) -> ReplicaStatus:
        body = parsed(PromoteIn.model_validate_json, await request.body())
        gate = receiver.gate(tenant)
        async with gate.lock:
            state = await anyio.to_thread.run_sync(
                roles.become_primary, host.db, tenant, body.epoch, host.site
            )
            gate.moved(state.head)
        await host.promoted(tenant)
        return _status(host.site, state, None)

    @router.get(
        "/status", response_model=NodeStatus, summary="このサイトの複製状況 / this site's status"
    )
    async def node_status(_source: Site) -> NodeStatus:
        return await host.node_status()

    @router.get(
        "/{tenant}/status", response_model=ReplicaStatus, summary="この複製の状態 / this copy"
    )
    async def status(tenant: TenantPath, _source: Site) -> ReplicaStatus:
        return _status(
            host.site, await receiver.state(tenant), receiver.gate(tenant).current_hold()
        )

    @router.post(
        "/{tenant}/hold", response_model=ReplicaStatus, summary="適用の一時停止 / hold applying"
    )
    async def hold(tenant: TenantPath, _source: Site, request: Request) -> ReplicaStatus:
        body = parsed(HoldIn.model_validate_json, await request.body())
        gate = receiver.gate(tenant)
        async with gate.lock:
            state = await receiver.state(tenant)
            if body.seq is not None and body.seq < state.applied_seq:
                raise Conflict(
                    f"既に {state.applied_seq} まで適用済みです / already applied up to "
                    f"{state.applied_seq}, beyond {body.seq}"
                )
            gate.hold = state.applied_seq if body.seq is None else body.seq
            gate.hold_until = time.monotonic() + body.ttl_seconds
            if gate.hold > state.applied_seq:
                state = await anyio.to_thread.run_sync(apply_pending, host.db, tenant, gate.hold)
        return _status(host.site, state, gate.hold)

    @router.delete("/{tenant}/hold", response_model=ReplicaStatus, summary="適用の再開 / release")
    async def release(tenant: TenantPath, _source: Site) -> ReplicaStatus:
        gate = receiver.gate(tenant)
        async with gate.lock:
            gate.hold = None
            state = await anyio.to_thread.run_sync(apply_pending, host.db, tenant, None)
        return _status(host.site, state, None)

    @router.post(
        "/{tenant}/pause",
        response_model=PauseOut,
        summary="書き込みの一時停止 / pause writes at the primary for a planned move",
    )
    async def pause(tenant: TenantPath, _source: Site, request: Request) -> PauseOut:
        body = parsed(PauseIn.model_validate_json, await request.body())
        return await host.pause_writes(tenant, body.ttl_seconds, body.wait_seconds)

    @router.delete(
        "/{tenant}/pause",
        response_model=ReplicaStatus,
        summary="書き込みの再開 / resume writes at this site",
    )
    async def resume(tenant: TenantPath, _source: Site) -> ReplicaStatus:
        host.resume_writes(tenant)
        return _status(
            host.site, await receiver.state(tenant), receiver.gate(tenant).current_hold()
        )

    @router.get(
        "/{tenant}/digest", response_model=DigestOut, summary="ダイジェスト / digest at a seq"
    )
    async def digest(
        tenant: TenantPath,
        _source: Site,
        seq: Annotated[int | None, Query(ge=0)] = None,
        wait: Annotated[float, Query(ge=0, le=600)] = 30.0,
    ) -> DigestOut:
        gate = receiver.gate(tenant)
        deadline = time.monotonic() + wait
        while True:
            async with gate.lock:
                state = await receiver.state(tenant)
                if seq is None or state.applied_seq == seq:
                    result = await anyio.to_thread.run_sync(tenant_digest, host.db, tenant)
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
            site=host.site,
            seq=result.seq,
            digest=result.digest,
            tables={
                name: TableDigest(rows=t.rows, digest=t.digest) for name, t in result.tables.items()
            },
        )

    @router.get(
        "/{tenant}/quarantine",
        response_model=list[QuarantineOut],
        summary="隔離 / quarantined entries",
    )
    async def quarantined(
        tenant: TenantPath, _source: Site, resolved: bool = False
    ) -> list[QuarantineOut]:
        rows = await anyio.to_thread.run_sync(
            lambda: quarantine.listing(host.db, tenant, include_resolved=resolved)
        )
        return [quarantine_out(host.site, row) for row in rows]

    @router.post(
        "/{tenant}/quarantine/{entry_id}/resolve",
        response_model=QuarantineOut,
        summary="隔離の解決 / mark an entry reconciled",
    )
    async def resolve(
        tenant: TenantPath, entry_id: int, _source: Site, request: Request
    ) -> QuarantineOut:
        body = parsed(ResolveIn.model_validate_json, await request.body())
        await anyio.to_thread.run_sync(
            lambda: quarantine.resolve(host.db, entry_id, body.by, body.note, tenant)
        )
        rows = await anyio.to_thread.run_sync(
            lambda: quarantine.listing(host.db, tenant, include_resolved=True, limit=100_000)
        )
        return quarantine_out(host.site, next(r for r in rows if r["id"] == entry_id))

    return router


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
