"""Backups: sealed before they leave the site, in two other sites' buckets (moto's S3
server stands in), restored to a point in time with the digest of that seq; a tampered
or truncated object is refused by verify and by restore."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto.server import ThreadedMotoServer

from replication.backup.archive import (
    create_backup,
    list_backups,
    restore,
    scheduled_backup,
    verify,
)
from replication.backup.crypto import BackupCorrupted, MasterKey
from replication.backup.store import Bucket, Target
from replication.digest import tenant_digest
from replication.sql import reading
from replication.state import read
from tests.replication.harness import SENDAI, add_user, rename_user, write_audit
from yui.db.database import Database
from yui.sandbox.etcd import free_ports
from yui.tenancy.service import create_tenant


@pytest.fixture(scope="module")
def s3_servers() -> Iterator[list[str]]:
    servers = []
    for port in free_ports(2):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        servers.append((server, f"http://127.0.0.1:{port}"))
    yield [url for _, url in servers]
    for server, _ in servers:
        server.stop()


@pytest.fixture
def buckets(s3_servers: list[str], monkeypatch: pytest.MonkeyPatch) -> list[Bucket]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    suffix = str(time.monotonic_ns())
    return [Bucket(Target(url, f"site{i}-backups-{suffix}")) for i, url in enumerate(s3_servers)]


@pytest.fixture
def primary(site_urls: dict[str, str]) -> Iterator[Database]:
    db = Database(site_urls["site-a"])
    db.migrate()
    yield db
    db.dispose()


def _seq(db: Database) -> int:
    with reading(db.engine) as connection:
        return read(connection, SENDAI).head


def _restore_into(url: str, bucket: Bucket, master: MasterKey, **point: object) -> tuple[int, str]:
    db = Database(url)
    db.migrate()
    try:
        restored = restore(bucket, master, SENDAI, db, **point)  # type: ignore[arg-type]
        return restored.seq, tenant_digest(db, SENDAI).digest
    finally:
        db.dispose()


def test_restore_to_a_point_in_time_equals_the_digest_at_that_seq(
    primary: Database, buckets: list[Bucket], site_urls: dict[str, str], tmp_path: object
) -> None:
    master = MasterKey(b"k" * 32)
    create_tenant(primary, SENDAI, "仙台市")
    add_user("sato")(primary)
    write_audit(count=20)(primary)
    first_seq, first_digest = _seq(primary), tenant_digest(primary, SENDAI).digest
    made = create_backup(primary, SENDAI, master, buckets, "site-a")
    assert [m.kind for m in made] == ["log", "snapshot"] and made[1].last == first_seq

    rename_user("sato", "佐藤")(primary)
    write_audit(count=7)(primary)
    middle_seq, middle_digest = _seq(primary), tenant_digest(primary, SENDAI).digest
    time.sleep(0.01)
    middle_time = datetime.now(UTC)
    time.sleep(0.01)
    add_user("suzuki")(primary)
    last_seq, last_digest = _seq(primary), tenant_digest(primary, SENDAI).digest
    held = scheduled_backup(primary, SENDAI, master, buckets, "site-a", snapshot_over=10_000)
    assert held == last_seq  # a log segment; the snapshot is recent enough

    for bucket in buckets:  # every target holds the same backups
        assert [m.name for m in list_backups(bucket, master, SENDAI)] == [
            m.name for m in list_backups(buckets[0], master, SENDAI)
        ]
    assert _restore_into(site_urls["site-b"], buckets[1], master, seq=first_seq) == (
        first_seq,
        first_digest,
    )
    assert _restore_into(site_urls["site-c"], buckets[0], master, at=middle_time) == (
        middle_seq,
        middle_digest,
    )
    assert _restore_into(site_urls["site-d"], buckets[0], master) == (last_seq, last_digest)


def test_backups_are_sealed_and_tampering_is_detected(
    primary: Database, buckets: list[Bucket], site_urls: dict[str, str], tmp_path: object
) -> None:
    from pathlib import Path

    master = MasterKey(b"m" * 32)
    create_tenant(primary, SENDAI, "仙台市")
    add_user("takahashi-secret-name")(primary)
    made = create_backup(primary, SENDAI, master, buckets, "site-a")
    bucket = buckets[0]
    assert verify(bucket, master, SENDAI).ok

    snapshot = next(m for m in made if m.kind == "snapshot")
    stored = Path(str(tmp_path)) / "object"
    bucket.get(snapshot.name, stored)
    raw = stored.read_bytes()
    assert b"takahashi-secret-name" not in raw and "仙台市".encode() not in raw

    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x01
    stored.write_bytes(bytes(flipped))
    bucket.put(snapshot.name, stored)
    result = verify(bucket, master, SENDAI)
    assert not result.ok
    assert [c.manifest.name for c in result.objects if c.error] == [snapshot.name]
    with pytest.raises(BackupCorrupted):
        _restore_into(site_urls["site-b"], bucket, master)

    # Cut short (and the manifest's hash left as it was): refused too; the other bucket is whole.
    stored.write_bytes(raw[: len(raw) - 40])
    bucket.put(snapshot.name, stored)
    assert not verify(bucket, master, SENDAI).ok
    assert verify(buckets[1], master, SENDAI).ok
    with pytest.raises(BackupCorrupted):
        _restore_into(site_urls["site-c"], bucket, master)
    # A wrong master key opens nothing.
    with pytest.raises(BackupCorrupted):
        list_backups(buckets[1], MasterKey(b"x" * 32), SENDAI)


def test_a_sealed_object_cut_at_a_chunk_boundary_is_refused() -> None:
    import io

    from replication.backup import crypto

    master = MasterKey(b"c" * 32)
    out = io.BytesIO()
    crypto.encrypt([b"a" * (crypto.CHUNK * 2 + 10)], out, master, SENDAI, "x")
    whole = out.getvalue()
    assert b"".join(crypto.decrypt(io.BytesIO(whole), master, SENDAI, "x")) == b"a" * (
        crypto.CHUNK * 2 + 10
    )
    header_end = (
        len(crypto.MAGIC) + 4 + int.from_bytes(whole[len(crypto.MAGIC) : len(crypto.MAGIC) + 4])
    )
    two_chunks = header_end + 2 * (4 + crypto.CHUNK + 16)
    with pytest.raises(BackupCorrupted):
        b"".join(crypto.decrypt(io.BytesIO(whole[:two_chunks]), master, SENDAI, "x"))
    with pytest.raises(BackupCorrupted):  # the same object under another name
        b"".join(crypto.decrypt(io.BytesIO(whole), master, SENDAI, "y"))


@pytest.mark.anyio
async def test_the_log_is_kept_until_a_backup_holds_it(
    cluster: object, buckets: list[Bucket]
) -> None:
    from replication.backup.plan import BackupPlan
    from tests.replication.harness import Cluster, commit

    assert isinstance(cluster, Cluster)
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    a.node.backups = BackupPlan(MasterKey(b"n" * 32), buckets, interval_seconds=0)
    await commit(a, write_audit(count=10))
    await cluster.caught_up("site-b")
    await a.node.truncate_logs()
    assert a.log_bounds()[0] == 1  # every replica holds it, no backup does yet

    assert await a.node.back_up(SENDAI) == a.state().head
    await a.node.truncate_logs()
    assert a.log_bounds()[0] == a.state().head
