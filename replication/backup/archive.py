"""Creating, listing, verifying and restoring a tenant's backups.

In each target bucket, per tenant (every object sealed by backup.crypto):

    yui/<tenant>/objects/<sha256>                     a sealed object, named by its hash
    yui/<tenant>/manifest/snapshot/<seq>-e<epoch>-<key>.snap.json
    yui/<tenant>/manifest/log/<first>-<last>-e<epoch>.log.json

A manifest says what its object holds (a snapshot of the rows at a seq, or the log
entries first..last as NDJSON), the object's key, size and SHA-256, the epoch that
wrote it (the writer's fencing token) and the epoch history of the log up to its last
seq; a log segment also names the hash of the segment it continues. The object is
uploaded first and the manifest last, so a manifest only ever names a complete object;
two attempts of one job write two objects and each manifest names one of them whole.

What is archived is history only: the log up to the acknowledged head (what the
in-sync replicas acknowledged, `backup.acked`), never an unacknowledged tail a failover
would quarantine. A primary archives its own history: it continues from the last
archived seq that agrees with its epoch history (after a failover: from the fork point
of its epoch, whatever a deposed primary archived beyond it).

Restoring reads the archive alone: the newest history it holds (the object of the
highest epoch, then seq) decides which objects belong (the epoch at their last seq
agrees: two logs that agree on the epoch at a seq agree up to it), every entry's epoch
is checked against it, consecutive segments against their hash links, and every object
is downloaded, checked against its manifest's hash and decrypted before anything is
written. A point-in-time restore (a seq, or a moment) loads the newest snapshot of that
history at or before it and applies the entries after it, up to the last whole
transaction at or before the point. The target must not hold the tenant yet; if
applying still fails, what was written of the tenant is removed again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select

from replication.backup.acked import Acknowledged, NotOurs, acknowledged_head
from replication.backup.crypto import BackupCorrupted, MasterKey, decrypt, encrypt
from replication.backup.store import Bucket, StoreError
from replication.entries import LOG, LogEntry, stream_range
from replication.history import History, clipped, epoch_at
from replication.models import ReplicationState
from replication.pipe import Pipe
from replication.primary.snapshot import produce as produce_snapshot
from replication.protocol.wire import Batch, Entry
from replication.replica import snapshot
from replication.replica.batches import receive_batch
from replication.sql import reading, table_of
from replication.state import applying, read
from replication.tables import replicated_tables
from yui.changelog.models import LogHead
from yui.db.database import Database

BATCH = 1000
#: how long a snapshot waits for the replicas to acknowledge its seq before it gives up
ACK_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Manifest:
    name: str  # the object's logical name (bound into its sealing)
    kind: str  # snapshot | log
    first: int
    last: int
    as_of: datetime  # the snapshot's read time, or the commit time of the segment's last entry
    size: int
    sha256: str
    site: str
    #: where the object is stored (content addressed); older backups: at ``name``
    object: str = ""
    #: the epoch of the primary that wrote it
    epoch: int = 0
    #: the epoch history of the log up to ``last``
    epochs: History = field(default_factory=list)
    #: a log segment: the SHA-256 of the segment it continues ("" after a snapshot)
    prev: str = ""
    #: the name bound into the object's sealing, when not ``name`` (a snapshot's seq is
    #: known only once it is being sealed)
    sealed_as: str = ""

    @property
    def key(self) -> str:
        return self.object or self.name

    @property
    def sealed_name(self) -> str:
        return self.sealed_as or self.name

    @property
    def last_epoch(self) -> int:
        return epoch_at(self.epochs, self.last)

    def data(self) -> dict[str, Any]:
        return {**self.__dict__, "as_of": self.as_of.isoformat()}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Manifest:
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "as_of": datetime.fromisoformat(data["as_of"])})


@dataclass(frozen=True)
class Held:
    """What the archive holds of one history: up to ``seq``, written in ``epoch``."""

    seq: int
    epoch: int
    newest_snapshot: int | None


def _prefix(tenant: str) -> str:
    return f"yui/{tenant}/"


def _manifest_name(object_name: str) -> str:
    """``yui/<tenant>/<kind>/<rest>`` -> ``yui/<tenant>/manifest/<kind>/<rest>.json``."""
    root, tenant, kind, rest = object_name.split("/", 3)
    return f"{root}/{tenant}/manifest/{kind}/{rest}.json"


# --------------------------------------------------------------------------- create


def _upload(
    buckets: list[Bucket], master: MasterKey, tenant: str, name: str, plaintext: Iterable[bytes]
) -> tuple[str, int, str]:
    """Seal and upload to every bucket under its hash; returns (key, size, SHA-256)."""
    with tempfile.NamedTemporaryFile(prefix="yui-backup-") as sealed:
        size, digest = encrypt(plaintext, sealed, master, tenant, name)
        sealed.flush()
        key = f"{_prefix(tenant)}objects/{digest}"
        for bucket in buckets:
            bucket.ensure()
            bucket.put(key, Path(sealed.name))
    return key, size, digest


def _put_manifest(
    buckets: list[Bucket], master: MasterKey, tenant: str, manifest: Manifest
) -> None:
    """The manifest, last, under its own name: sealed in place, not content addressed."""
    name = _manifest_name(manifest.name)
    body = json.dumps(manifest.data()).encode()
    with tempfile.NamedTemporaryFile(prefix="yui-backup-") as sealed:
        encrypt([body], sealed, master, tenant, name)
        sealed.flush()
        for bucket in buckets:
            bucket.ensure()
            bucket.put(name, Path(sealed.name))


def _snapshot_lines(db: Database, tenant: str, epoch: int) -> Iterator[bytes]:
    pipe: Pipe[bytes | None] = Pipe(8)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            produce_snapshot(db, tenant, epoch, pipe)
        except BaseException as error:  # surfaced to the reader below
            failure.append(error)
        finally:
            pipe.close()

    thread = threading.Thread(target=produce, name=f"backup {tenant}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                chunk = pipe.get()
            except Exception:
                break
            if chunk is None:
                break
            yield chunk
    finally:
        pipe.close()
        thread.join()
    if failure:
        raise failure[0]


def acknowledged(db: Database, tenant: str) -> Acknowledged:
    """How far this site's log of the tenant is history (`NotOurs` at a replica)."""
    with reading(db.engine) as connection:
        return acknowledged_head(connection, read(connection, tenant))


class NotAcknowledged(RuntimeError):
    """The replicas did not acknowledge a snapshot's seq in time: it is not published."""


#: raises when the caller may no longer act for the tenant (a job's fencing check)
Fence = Callable[[], None]


def _no_fence() -> None:
    return None


def _check_epoch(db: Database, tenant: str, epoch: int) -> Acknowledged:
    now = acknowledged(db, tenant)
    if now.epoch != epoch:
        raise NotOurs(
            f"{tenant} の主系はエポック {epoch} から {now.epoch} に変わりました / the primary of "
            f"{tenant} moved from epoch {epoch} to {now.epoch}: this backup stops"
        )
    return now


def backup_snapshot(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    *,
    key: str | None = None,
    fence: Fence = _no_fence,
    ack_wait: float = ACK_WAIT_SECONDS,
) -> Manifest:
    """The tenant's rows at its current seq, sealed, in every bucket. The manifest is
    written only once the in-sync replicas acknowledged that seq in the same epoch
    (the snapshot is history then) and ``fence`` still passes; ``key`` names the
    snapshot (a job, step and attempt)."""
    fence()
    epoch = acknowledged(db, tenant).epoch
    as_of = datetime.now(UTC)
    header: dict[str, Any] = {}

    def lines() -> Iterator[bytes]:
        for chunk in _snapshot_lines(db, tenant, epoch):
            if not header:
                header.update(json.loads(chunk.split(b"\n", 1)[0])["snapshot"])
            yield chunk

    # The sealed name is bound before the first byte; the seq is known once the read
    # began: the object's name is unique, its manifest's carries the seq.
    name = f"{_prefix(tenant)}snapshot/{uuid.uuid4().hex}"
    object_key, size, digest = _upload(buckets, master, tenant, name, lines())
    seq = int(header["seq"])
    deadline = time.monotonic() + ack_wait
    while (now := _check_epoch(db, tenant, epoch)).seq < seq:
        if time.monotonic() > deadline:
            raise NotAcknowledged(
                f"{tenant} のスナップショット（seq {seq}）は同期レプリカに確認されていません / the "
                f"snapshot of {tenant} at seq {seq} is not acknowledged by the in-sync replicas "
                f"(acknowledged up to {now.seq}): not published"
            )
        time.sleep(0.1)
    fence()
    manifest = Manifest(
        f"{_prefix(tenant)}snapshot/{seq:020d}-e{epoch}-{key or digest[:16]}.snap",
        "snapshot",
        1,
        seq,
        as_of,
        size,
        digest,
        site,
        object=object_key,
        epoch=epoch,
        epochs=clipped(header["epochs"], seq),
        sealed_as=name,
    )
    _put_manifest(buckets, master, tenant, manifest)
    return manifest


def _file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _transaction_end(connection: Connection, tenant: str, upto: int, head: int) -> int:
    """The last seq <= ``upto`` that ends a transaction (``upto`` itself at the head)."""
    if upto >= head:
        return head
    row = connection.execute(
        select(LOG.c.tx_seq).where(LOG.c.tenant_id == tenant, LOG.c.seq == upto + 1)
    ).one_or_none()
    return upto if row is None else min(upto, int(row[0]) - 1)


def backup_log(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    after: int,
    *,
    prev: Manifest | None = None,
    fence: Fence = _no_fence,
) -> Manifest | None:
    """The entries after ``after`` up to the acknowledged head (whole transactions),
    streamed from the log into the sealed object."""
    with reading(db.engine) as connection:
        state = read(connection, tenant)
        held = acknowledged_head(connection, state)
        first = max(after + 1, state.log_start)
        last = _transaction_end(connection, tenant, held.seq, state.head)
        if last < first:
            return None
        name = f"{_prefix(tenant)}log/{first:020d}-{last:020d}-e{held.epoch}.log"
        newest: list[LogEntry] = []

        def lines() -> Iterator[bytes]:
            for entry in stream_range(connection, tenant, first, last):
                newest[:] = [entry]
                yield json.dumps(entry.wire(), ensure_ascii=False).encode() + b"\n"

        fence()
        object_key, size, digest = _upload(buckets, master, tenant, name, lines())
    if not newest or newest[0].seq != last:
        raise BackupCorrupted(f"{name}: the log here ends before {last}")
    linked = prev is not None and prev.kind == "log" and prev.last == first - 1
    manifest = Manifest(
        name,
        "log",
        first,
        last,
        newest[0].at,
        size,
        digest,
        site,
        object=object_key,
        epoch=held.epoch,
        epochs=clipped(held.history, last),
        prev=prev.sha256 if linked and prev is not None else "",
    )
    fence()
    _put_manifest(buckets, master, tenant, manifest)
    return manifest


def create_backup(
    db: Database, tenant: str, master: MasterKey, buckets: list[Bucket], site: str
) -> list[Manifest]:
    """The log since the last archived segment of this history, and a snapshot."""
    made = []
    _, segment = _archive(db, tenant, master, buckets, site, _no_fence)
    if segment is not None:
        made.append(segment)
    made.append(backup_snapshot(db, tenant, master, buckets, site))
    return made


def archived_seq(bucket: Bucket, master: MasterKey, tenant: str) -> int:
    """The highest seq of the newest history this bucket holds."""
    manifests = list_backups(bucket, master, tenant)
    if not manifests:
        return 0
    _, chain = _chain(manifests)
    return max(m.last for m in chain)


def _agrees(manifest: Manifest, history: History) -> bool:
    """The object is of this history: the epoch at its last seq agrees (and with it,
    by the log's matching rule, every entry before)."""
    return epoch_at(history, manifest.last) == manifest.last_epoch


def _chain(
    manifests: list[Manifest], history: History | None = None
) -> tuple[History, list[Manifest]]:
    """The objects of one history (``history``, or the archive's newest: that of the
    object of the highest epoch, then seq), in seq order."""
    if not manifests:
        return history or [], []
    limit = None
    if history is None:
        tip = max(manifests, key=lambda m: (m.last_epoch, m.last, m.kind == "log"))
        history, limit = tip.epochs, tip.last
    chain = [m for m in manifests if (limit is None or m.last <= limit) and _agrees(m, history)]
    return history, sorted(chain, key=lambda m: (m.last, m.kind))


# --------------------------------------------------------------------------- read


def _download(bucket: Bucket, master: MasterKey, tenant: str, name: str) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="yui-restore-", delete=False)  # noqa: SIM115
    handle.close()
    bucket.get(name, Path(handle.name))
    return Path(handle.name)


def _plaintext(path: Path, master: MasterKey, tenant: str, name: str) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from decrypt(handle, master, tenant, name)


def list_backups(bucket: Bucket, master: MasterKey, tenant: str) -> list[Manifest]:
    manifests = []
    for name in bucket.names(f"{_prefix(tenant)}manifest/"):
        path = _download(bucket, master, tenant, name)
        try:
            body = b"".join(_plaintext(path, master, tenant, name))
            try:
                manifests.append(Manifest.of(json.loads(body)))
            except (ValueError, TypeError, KeyError):
                raise BackupCorrupted(f"{name}: an unreadable manifest") from None
        finally:
            path.unlink(missing_ok=True)
    return sorted(manifests, key=lambda m: (m.last, m.kind))


@dataclass
class Checked:
    manifest: Manifest
    error: str | None = None


@dataclass
class Verification:
    bucket: str
    objects: list[Checked] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.error is None for o in self.objects)


def verify(bucket: Bucket, master: MasterKey, tenant: str) -> Verification:
    """Download every object, check its hash against its manifest and decrypt it whole."""
    result = Verification(str(bucket.target))
    try:
        manifests = list_backups(bucket, master, tenant)
    except (BackupCorrupted, *StoreError) as error:
        result.error = str(error)
        return result
    for manifest in manifests:
        checked = Checked(manifest)
        try:
            path = _download(bucket, master, tenant, manifest.key)
            try:
                if _sha256(path) != manifest.sha256:
                    raise BackupCorrupted(f"{manifest.name}: its hash differs from its manifest")
                for _chunk in _plaintext(path, master, tenant, manifest.sealed_name):
                    pass
            finally:
                path.unlink(missing_ok=True)
        except (BackupCorrupted, *StoreError) as error:
            checked.error = str(error)
        result.objects.append(checked)
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _file_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- restore


class TargetNotEmpty(ValueError):
    """The database to restore into already holds the tenant."""


@dataclass(frozen=True)
class Restored:
    tenant: str
    seq: int
    snapshot_seq: int
    entries_applied: int
    #: the epoch of the last entry restored
    epoch: int = 0
    #: the commit time of the last entry restored (the snapshot's read time without one)
    as_of: datetime | None = None

    def summary(self) -> str:
        """What was restored and what may be missing (for the operator; ja / en)."""
        at = self.as_of.isoformat() if self.as_of else "?"
        return (
            f"{self.tenant} を seq {self.seq}（エポック {self.epoch}、最後のコミット {at}）まで"
            f"復元しました。これより後に確定した書き込み（seq {self.seq + 1} 以降）はバックアップに"
            f"なく、失われた可能性があります / restored {self.tenant} up to seq {self.seq} "
            f"(epoch {self.epoch}, last commit {at}); writes acknowledged after it (seq "
            f"{self.seq + 1} on) are not in the backup and may be missing"
        )


@dataclass
class _Plan:
    """What a restore will load, every object downloaded and checked."""

    history: History
    base: Manifest
    segments: list[Manifest]
    files: dict[str, Path] = field(default_factory=dict)

    def discard(self) -> None:
        for path in self.files.values():
            path.unlink(missing_ok=True)


def _pick(manifests: list[Manifest], seq: int | None, at: datetime | None) -> _Plan:
    """The snapshot and the segments of the archive's newest history that reach the
    point, checked for gaps and hash links."""
    history, chain = _chain(manifests)
    snapshots = [
        m
        for m in chain
        if m.kind == "snapshot" and (seq is None or m.last <= seq) and (at is None or m.as_of <= at)
    ]
    if not snapshots:
        raise BackupCorrupted(
            f"この時点以前のスナップショットがありません / no snapshot at or before the point "
            f"asked for (seq {seq}, at {at})"
        )
    base = max(snapshots, key=lambda m: m.last)
    segments: list[Manifest] = []
    expected = base.last + 1
    for manifest in sorted(
        (m for m in chain if m.kind == "log" and m.last >= expected),
        key=lambda m: (m.first, -m.last),
    ):
        if manifest.last < expected:
            continue  # covered by a longer segment already taken
        if seq is not None and expected > seq:
            break
        if manifest.first > expected:
            raise BackupCorrupted(
                f"アーカイブにエントリ {expected} がありません / the archive has no entry {expected} "
                f"(the next segment begins at {manifest.first})"
            )
        before = segments[-1] if segments else None
        linked = before is not None and before.last == manifest.first - 1
        if manifest.prev and linked and before is not None and manifest.prev != before.sha256:
            raise BackupCorrupted(
                f"{manifest.name}: アーカイブの連鎖が切れています / the archive's chain is "
                f"broken: it continues {manifest.prev[:12]}, not {before.sha256[:12]}"
            )
        segments.append(manifest)
        expected = manifest.last + 1
    return _Plan(history, base, segments)


def _fetch(bucket: Bucket, master: MasterKey, tenant: str, plan: _Plan) -> None:
    """Download every object of the plan; each must match its manifest's hash and
    decrypt whole, and every entry must be the next seq, of the archive's epoch there."""
    expected = plan.base.last + 1
    for manifest in [plan.base, *plan.segments]:
        path = _verified_download(bucket, master, tenant, manifest)
        plan.files[manifest.key] = path
        if manifest.kind != "log":
            for _chunk in _plaintext(path, master, tenant, manifest.sealed_name):
                pass
            continue
        for entry in _entries(path, master, tenant, manifest):
            if entry.seq < expected:
                continue
            if entry.seq != expected:
                raise BackupCorrupted(f"{manifest.name}: the archived log has no entry {expected}")
            if entry.epoch != epoch_at(plan.history, entry.seq):
                raise BackupCorrupted(
                    f"{manifest.name}: entry {entry.seq} is of epoch {entry.epoch}, the archive's "
                    f"history says {epoch_at(plan.history, entry.seq)}"
                )
            expected += 1
        if expected <= manifest.last:
            raise BackupCorrupted(f"{manifest.name}: the segment ends before {manifest.last}")


def _entries(path: Path, master: MasterKey, tenant: str, manifest: Manifest) -> Iterator[LogEntry]:
    buffer = b""
    for chunk in _plaintext(path, master, tenant, manifest.sealed_name):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                yield LogEntry.from_wire(Entry.model_validate_json(line))
            except ValueError:
                raise BackupCorrupted(f"{manifest.name}: an unreadable entry") from None


def restore(
    bucket: Bucket,
    master: MasterKey,
    tenant: str,
    into: Database,
    *,
    seq: int | None = None,
    at: datetime | None = None,
) -> Restored:
    """Rebuild the tenant in ``into`` as it was at ``seq`` (or at the moment ``at``; the
    latest when neither), to the last whole transaction at or before it, from the
    archive's newest history. Every object is checked before the first write; the
    tenant must not be in ``into`` yet, and is removed again if applying fails."""
    with reading(into.engine) as connection:
        present = read(connection, tenant)
    if present.head or present.applied_seq:
        raise TargetNotEmpty(
            f"復元先にはすでに {tenant} があります（seq {present.applied_seq}）。空のデータベースに復元して"
            f"ください / the target already holds {tenant} (at seq {present.applied_seq}): "
            "restore into a database without it"
        )
    plan = _pick(list_backups(bucket, master, tenant), seq, at)
    try:
        _fetch(bucket, master, tenant, plan)
        try:
            _load_snapshot(master, tenant, into, plan)
            applied, last = _apply_log(master, tenant, into, plan, seq, at)
        except BaseException:
            _remove(into, tenant)
            raise
    finally:
        plan.discard()
    with reading(into.engine) as connection:
        restored = read(connection, tenant).applied_seq
    return Restored(
        tenant,
        restored,
        plan.base.last,
        applied,
        epoch_at(plan.history, restored),
        last.at if last is not None else plan.base.as_of,
    )


def _remove(into: Database, tenant: str) -> None:
    """Take out what a failed restore wrote of the tenant (one transaction)."""
    with applying(into, tenant) as (session, connection):
        for table in reversed(replicated_tables()):
            connection.execute(delete(table).where(table.c.tenant_id == tenant))
        connection.execute(delete(LOG).where(LOG.c.tenant_id == tenant))
        state_table, heads = table_of(ReplicationState), table_of(LogHead)
        connection.execute(delete(state_table).where(state_table.c.tenant_id == tenant))
        connection.execute(delete(heads).where(heads.c.tenant_id == tenant))
        session.commit()


def _verified_download(bucket: Bucket, master: MasterKey, tenant: str, manifest: Manifest) -> Path:
    path = _download(bucket, master, tenant, manifest.key)
    if _sha256(path) != manifest.sha256:
        path.unlink(missing_ok=True)
        raise BackupCorrupted(f"{manifest.name}: its hash differs from its manifest")
    return path


def _load_snapshot(master: MasterKey, tenant: str, into: Database, plan: _Plan) -> None:
    manifest = plan.base
    path = plan.files[manifest.key]
    pipe: Pipe[snapshot.LoaderItem] = Pipe(16)
    loader = snapshot.Loader(into, tenant, "backup", pipe)
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(_run(loader)), name="restore", daemon=True
    )
    thread.start()
    try:
        buffer = b""
        for chunk in _plaintext(path, master, tenant, manifest.sealed_name):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if lines:
                pipe.put(lines)
        pipe.put(snapshot.COMMIT)
    finally:
        thread.join()
    if not outcome or isinstance(outcome[0], BaseException):
        raise BackupCorrupted(f"{manifest.name}: {outcome[0] if outcome else 'not loaded'}")
    if outcome[0].status != "ok":
        raise BackupCorrupted(f"{manifest.name}: {outcome[0].detail}")


def _run(loader: snapshot.Loader) -> Any:
    try:
        return loader.run()
    except BaseException as error:
        return error


def _apply_log(
    master: MasterKey,
    tenant: str,
    into: Database,
    plan: _Plan,
    seq: int | None,
    at: datetime | None,
) -> tuple[int, LogEntry | None]:
    def entries() -> Iterator[LogEntry]:
        expected = plan.base.last + 1
        for manifest in plan.segments:
            for entry in _entries(plan.files[manifest.key], master, tenant, manifest):
                if entry.seq >= expected:
                    expected += 1
                    yield entry

    def wanted(entry: LogEntry) -> bool:
        return (seq is None or entry.seq <= seq) and (at is None or entry.at <= at)

    applied, prev = 0, plan.base.last
    batch: list[LogEntry] = []
    whole = 0  # batch[:whole] are whole transactions
    last: LogEntry | None = None
    for entry in entries():
        if batch and entry.tx_seq == entry.seq:
            whole = len(batch)  # the entry before ended its transaction
        if not wanted(entry):
            break
        if whole >= BATCH:
            applied += _apply(into, tenant, plan.history, prev, batch[:whole])
            last = batch[whole - 1]
            prev, batch, whole = last.seq, batch[whole:], 0
        batch.append(entry)
    else:
        whole = len(batch)  # segments are archived at commit boundaries
    # A transaction that goes past the point is left out: it is not whole there.
    if whole:
        applied += _apply(into, tenant, plan.history, prev, batch[:whole])
        last = batch[whole - 1]
    return applied, last


def _apply(
    into: Database, tenant: str, history: History, prev: int, entries: list[LogEntry]
) -> int:
    """One batch, its epochs from the archive's history (not from the target)."""
    batch = Batch(
        epoch=epoch_at(history, entries[-1].seq),
        prev_seq=prev,
        prev_epoch=epoch_at(history, prev) if prev else None,
        entries=[Entry.model_validate(e.wire()) for e in entries],
        complete=True,
        primary_seq=entries[-1].seq,
    )
    ack = receive_batch(into, tenant, "backup", batch)
    if ack.status != "ok":
        raise BackupCorrupted(f"the archived log does not apply: {ack.status}: {ack.detail}")
    return len(entries)


# --------------------------------------------------------------------------- archive


def _archive(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    fence: Fence,
) -> tuple[Held, Manifest | None]:
    """One more segment of this site's history: after the last archived seq that agrees
    with its epoch history (never after an archived tail of another history)."""
    fence()
    mine = acknowledged(db, tenant)
    _, chain = _chain(list_backups(buckets[0], master, tenant), mine.history)
    chain = [m for m in chain if m.last <= mine.seq]
    logs = [m for m in chain if m.kind == "log"]
    snapshots = [m.last for m in chain if m.kind == "snapshot"]
    after = max([0, *(m.last for m in logs), *snapshots])
    prev = max(logs, key=lambda m: m.last) if logs else None
    segment = backup_log(db, tenant, master, buckets, site, after, prev=prev, fence=fence)
    held = segment.last if segment is not None else after
    return Held(held, mine.epoch, max(snapshots, default=None)), segment


def archive_log(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    *,
    fence: Fence = _no_fence,
) -> Held:
    """The log since what the buckets hold of this site's history, as one more segment.
    Running it again archives nothing twice: the next run starts after the last segment
    it finds."""
    return _archive(db, tenant, master, buckets, site, fence)[0]


def scheduled_backup(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    snapshot_over: int,
) -> Held:
    """The periodic backup: the log since the last archived segment, and a new snapshot
    when there is none yet or the log since the last one is long. Returns what the
    backups now hold of this site's history."""
    held = archive_log(db, tenant, master, buckets, site)
    if held.newest_snapshot is None or held.seq - held.newest_snapshot > snapshot_over:
        made = backup_snapshot(db, tenant, master, buckets, site)
        if made.epoch == held.epoch:
            held = Held(max(held.seq, made.last), held.epoch, made.last)
    return held
