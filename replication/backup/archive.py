"""Creating, listing, verifying and restoring a tenant's backups.

In each target bucket, per tenant (every object sealed by backup.crypto):

    yui/<tenant>/snapshot/<seq>.snap     the tenant's rows at seq (the snapshot stream)
    yui/<tenant>/log/<first>-<last>.log  change-log entries first..last (NDJSON)
    yui/<tenant>/manifest/<object>.json  what the object holds, its size and SHA-256

A backup is a snapshot plus the log segment since the last one archived; restoring to a
point in time (a seq, or a moment) loads the newest snapshot at or before it and applies
the entries after it, up to the last whole transaction at or before the point. An
object that does not decrypt (changed, cut short, renamed) or whose hash differs from
its manifest stops a restore and fails a verify. Objects are written to a temporary
file first and uploaded from it: nothing holds a tenant in memory.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replication import snapshot
from replication.backup.crypto import BackupCorrupted, MasterKey, decrypt, encrypt
from replication.backup.store import Bucket, StoreError
from replication.entries import LogEntry, stream_range
from replication.pipe import Pipe
from replication.receive import receive_batch
from replication.sql import reading
from replication.state import read
from replication.wire import Batch, Entry
from yui.db.database import Database

BATCH = 1000


@dataclass(frozen=True)
class Manifest:
    name: str  # the object's name
    kind: str  # snapshot | log
    first: int
    last: int
    as_of: datetime  # the snapshot's read time, or the commit time of the segment's last entry
    size: int
    sha256: str
    site: str

    def data(self) -> dict[str, Any]:
        return {**self.__dict__, "as_of": self.as_of.isoformat()}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Manifest:
        return cls(**{**data, "as_of": datetime.fromisoformat(data["as_of"])})


def _prefix(tenant: str) -> str:
    return f"yui/{tenant}/"


def _manifest_name(object_name: str) -> str:
    tenant_prefix, _, rest = object_name.partition("/snapshot/")
    if not rest:
        tenant_prefix, _, rest = object_name.partition("/log/")
    return f"{tenant_prefix}/manifest/{rest}.json"


# --------------------------------------------------------------------------- create


def _upload(
    buckets: list[Bucket], master: MasterKey, tenant: str, name: str, plaintext: Iterable[bytes]
) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile(prefix="yui-backup-") as sealed:
        size, digest = encrypt(plaintext, sealed, master, tenant, name)
        sealed.flush()
        for bucket in buckets:
            bucket.ensure()
            bucket.put(name, Path(sealed.name))
    return size, digest


def _put_manifest(
    buckets: list[Bucket], master: MasterKey, tenant: str, manifest: Manifest
) -> None:
    body = json.dumps(manifest.data()).encode()
    _upload(buckets, master, tenant, _manifest_name(manifest.name), [body])


def _snapshot_lines(db: Database, tenant: str) -> Iterator[bytes]:
    pipe: Pipe[bytes | None] = Pipe(8)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            snapshot.produce(db, tenant, 0, pipe)
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


def backup_snapshot(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    *,
    key: str | None = None,
) -> Manifest:
    """The tenant's rows at its current seq, sealed, in every bucket (the seq is in the
    manifest: it is known once the snapshot's consistent read began). ``key`` names the
    object (a job's id: running the job's step again overwrites the same object)."""
    as_of = datetime.now(UTC)
    name = f"{_prefix(tenant)}snapshot/{key or f'{as_of:%Y%m%dT%H%M%S%f}'}.snap"
    header: dict[str, Any] = {}

    def lines() -> Iterator[bytes]:
        for chunk in _snapshot_lines(db, tenant):
            if not header:
                header.update(json.loads(chunk.split(b"\n", 1)[0])["snapshot"])
            yield chunk

    size, digest = _upload(buckets, master, tenant, name, lines())
    manifest = Manifest(name, "snapshot", 1, int(header["seq"]), as_of, size, digest, site)
    _put_manifest(buckets, master, tenant, manifest)
    return manifest


def _file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def backup_log(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    after: int,
) -> Manifest | None:
    """The entries after ``after`` up to the head (a whole number of transactions)."""
    with reading(db.engine) as connection:
        state = read(connection, tenant)
        first, last = max(after + 1, state.log_start), state.head
        if last < first:
            return None
        entries = list(stream_range(connection, tenant, first, last))
    if not entries:
        return None
    name = f"{_prefix(tenant)}log/{first:020d}-{last:020d}.log"
    lines = (json.dumps(entry.wire(), ensure_ascii=False).encode() + b"\n" for entry in entries)
    size, digest = _upload(buckets, master, tenant, name, lines)
    manifest = Manifest(name, "log", first, last, entries[-1].at, size, digest, site)
    _put_manifest(buckets, master, tenant, manifest)
    return manifest


def create_backup(
    db: Database, tenant: str, master: MasterKey, buckets: list[Bucket], site: str
) -> list[Manifest]:
    """A snapshot, and the log since the last archived segment (point-in-time restore)."""
    archived = [m for m in list_backups(buckets[0], master, tenant) if m.kind == "log"]
    made = []
    segment = backup_log(
        db, tenant, master, buckets, site, max((m.last for m in archived), default=0)
    )
    if segment is not None:
        made.append(segment)
    made.append(backup_snapshot(db, tenant, master, buckets, site))
    return made


def archived_seq(bucket: Bucket, master: MasterKey, tenant: str) -> int:
    """The highest seq this bucket holds (log segments and snapshots)."""
    return max((m.last for m in list_backups(bucket, master, tenant)), default=0)


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
            manifests.append(
                Manifest.of(json.loads(b"".join(_plaintext(path, master, tenant, name))))
            )
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
            path = _download(bucket, master, tenant, manifest.name)
            try:
                if _sha256(path) != manifest.sha256:
                    raise BackupCorrupted(f"{manifest.name}: its hash differs from its manifest")
                for _chunk in _plaintext(path, master, tenant, manifest.name):
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


@dataclass(frozen=True)
class Restored:
    tenant: str
    seq: int
    snapshot_seq: int
    entries_applied: int


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
    latest when neither), to the last whole transaction at or before it."""
    manifests = list_backups(bucket, master, tenant)
    snapshots = [
        m
        for m in manifests
        if m.kind == "snapshot" and (seq is None or m.last <= seq) and (at is None or m.as_of <= at)
    ]
    if not snapshots:
        raise BackupCorrupted(f"no snapshot of {tenant} at or before the point asked for")
    base = max(snapshots, key=lambda m: m.last)
    _load_snapshot(bucket, master, tenant, into, base)
    segments = sorted(
        (m for m in manifests if m.kind == "log" and m.last > base.last), key=lambda m: m.first
    )
    applied = _apply_log(bucket, master, tenant, into, segments, base.last, seq, at)
    with reading(into.engine) as connection:
        restored = read(connection, tenant).applied_seq
    return Restored(tenant, restored, base.last, applied)


def _verified_download(bucket: Bucket, master: MasterKey, tenant: str, manifest: Manifest) -> Path:
    path = _download(bucket, master, tenant, manifest.name)
    if _sha256(path) != manifest.sha256:
        path.unlink(missing_ok=True)
        raise BackupCorrupted(f"{manifest.name}: its hash differs from its manifest")
    return path


def _load_snapshot(
    bucket: Bucket, master: MasterKey, tenant: str, into: Database, manifest: Manifest
) -> None:
    path = _verified_download(bucket, master, tenant, manifest)
    try:
        # Decrypt it whole once before loading: a tampered object changes nothing.
        for _chunk in _plaintext(path, master, tenant, manifest.name):
            pass
        pipe: Pipe[snapshot.LoaderItem] = Pipe(16)
        loader = snapshot.Loader(into, tenant, "backup", pipe)
        outcome: list[Any] = []
        thread = threading.Thread(
            target=lambda: outcome.append(_run(loader)), name="restore", daemon=True
        )
        thread.start()
        buffer = b""
        for chunk in _plaintext(path, master, tenant, manifest.name):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if lines:
                pipe.put(lines)
        pipe.put(snapshot.COMMIT)
        thread.join()
    finally:
        path.unlink(missing_ok=True)
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
    bucket: Bucket,
    master: MasterKey,
    tenant: str,
    into: Database,
    segments: list[Manifest],
    after: int,
    seq: int | None,
    at: datetime | None,
) -> int:
    def entries() -> Iterator[LogEntry]:
        expected = after + 1
        for manifest in segments:
            path = _verified_download(bucket, master, tenant, manifest)
            try:
                for _chunk in _plaintext(path, master, tenant, manifest.name):
                    pass
                buffer = b""
                for chunk in _plaintext(path, master, tenant, manifest.name):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        entry = LogEntry.from_wire(Entry.model_validate_json(line))
                        if entry.seq < expected:
                            continue
                        if entry.seq != expected:
                            raise BackupCorrupted(f"the archived log has no entry {expected}")
                        expected += 1
                        yield entry
            finally:
                path.unlink(missing_ok=True)

    def wanted(entry: LogEntry) -> bool:
        return (seq is None or entry.seq <= seq) and (at is None or entry.at <= at)

    applied, prev = 0, after
    batch: list[LogEntry] = []
    whole = 0  # batch[:whole] are whole transactions
    for entry in entries():
        if batch and entry.tx_seq == entry.seq:
            whole = len(batch)  # the entry before ended its transaction
        if not wanted(entry):
            break
        if whole >= BATCH:
            applied += _apply(into, tenant, prev, batch[:whole])
            prev, batch, whole = batch[whole - 1].seq, batch[whole:], 0
        batch.append(entry)
    else:
        whole = len(batch)  # segments are archived at commit boundaries
    # A transaction that goes past the point is left out: it is not whole there.
    if whole:
        applied += _apply(into, tenant, prev, batch[:whole])
    return applied


def _apply(into: Database, tenant: str, prev: int, entries: list[LogEntry]) -> int:
    with reading(into.engine) as connection:
        state = read(connection, tenant)
    batch = Batch(
        epoch=max(state.sealed_epoch, *(e.epoch for e in entries)),
        prev_seq=prev,
        prev_epoch=state.epoch_at(prev) if prev else None,
        entries=[Entry.model_validate(e.wire()) for e in entries],
        complete=True,
        primary_seq=entries[-1].seq,
    )
    ack = receive_batch(into, tenant, "backup", batch)
    if ack.status != "ok":
        raise BackupCorrupted(f"the archived log does not apply: {ack.status}: {ack.detail}")
    return len(entries)


def scheduled_backup(
    db: Database,
    tenant: str,
    master: MasterKey,
    buckets: list[Bucket],
    site: str,
    snapshot_over: int,
) -> int:
    """The periodic job: the log since the last archived segment, and a new snapshot
    when there is none yet or the log since the last one is long. Returns the highest
    seq the backups now hold."""
    held, newest_snapshot = archive_log(db, tenant, master, buckets, site)
    if newest_snapshot is None or held - newest_snapshot > snapshot_over:
        held = max(held, backup_snapshot(db, tenant, master, buckets, site).last)
    return held


def archive_log(
    db: Database, tenant: str, master: MasterKey, buckets: list[Bucket], site: str
) -> tuple[int, int | None]:
    """The log since what the buckets hold, as one more segment. Returns the highest seq
    the backups now hold and the seq of the newest snapshot (None: none yet). Running it
    again archives nothing twice: the segment's name is its seq range, and the next run
    starts after the last segment it finds."""
    manifests = list_backups(buckets[0], master, tenant)
    archived = max((m.last for m in manifests if m.kind == "log"), default=0)
    snapshots = [m.last for m in manifests if m.kind == "snapshot"]
    segment = backup_log(
        db, tenant, master, buckets, site, max(archived, max(snapshots, default=0))
    )
    held = max([archived, *snapshots, segment.last if segment else 0])
    return held, max(snapshots, default=None)
