"""Backups: sealed before they leave the site, in two other sites' buckets (moto's S3
server stands in), restored to a point in time with the digest of that seq; a tampered
or truncated object is refused by verify and by restore."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import Connection

from assembly.sandbox.etcd import free_ports
from assembly.schema import SCHEMA_HISTORY
from replication.backup import archive
from replication.backup.acked import Acknowledged
from replication.backup.archive import (
    NotAcknowledged,
    acknowledged,
    archive_log,
    archived_seq,
    backup_snapshot,
    create_backup,
    list_backups,
    restore,
    scheduled_backup,
    verify,
)
from replication.backup.crypto import BackupCorrupted, MasterKey
from replication.backup.plan import BackupPlan
from replication.backup.store import Bucket, Target
from replication.entries import writer_history
from replication.sql import reading
from replication.state import CopyState, read
from replication.verify.digest import tenant_digest
from tests.replication.harness import (
    SENDAI,
    Cluster,
    add_user,
    commit,
    rename_user,
    write_audit,
)
from yui.db.database import Database
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
    db.migrate(SCHEMA_HISTORY)
    yield db
    db.dispose()


def _seq(db: Database) -> int:
    with reading(db.engine) as connection:
        return read(connection, SENDAI).head


def _restore_into(url: str, bucket: Bucket, master: MasterKey, **point: object) -> tuple[int, str]:
    db = Database(url)
    db.migrate(SCHEMA_HISTORY)
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
    assert held.seq == last_seq  # a log segment; the snapshot is recent enough

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
    bucket.get(snapshot.key, stored)
    raw = stored.read_bytes()
    assert b"takahashi-secret-name" not in raw and "仙台市".encode() not in raw

    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x01
    stored.write_bytes(bytes(flipped))
    bucket.put(snapshot.key, stored)
    result = verify(bucket, master, SENDAI)
    assert not result.ok
    assert [c.manifest.name for c in result.objects if c.error] == [snapshot.name]
    with pytest.raises(BackupCorrupted):
        _restore_into(site_urls["site-b"], bucket, master)

    # Cut short (and the manifest's hash left as it was): refused too; the other bucket is whole.
    stored.write_bytes(raw[: len(raw) - 40])
    bucket.put(snapshot.key, stored)
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
    a.node.retention.backups = BackupPlan(MasterKey(b"n" * 32), buckets, interval_seconds=0)
    await commit(a, write_audit(count=10))
    await cluster.caught_up("site-b")
    await a.node.retention.truncate_logs()
    assert a.log_bounds()[0] == 1  # every replica holds it, no backup does yet

    await _acknowledged(cluster, "site-a")  # a backup holds only what b acknowledged
    assert await a.node.retention.back_up(SENDAI) == a.state().head
    await a.node.retention.truncate_logs()
    assert a.log_bounds()[0] == a.state().head


@pytest.fixture
def fresh_url(site_urls: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Fresh databases of the kind the cluster runs on (to restore into)."""
    from contextlib import ExitStack

    from tests.replication.conftest import _postgres

    with ExitStack() as stack:

        def make() -> str:
            if site_urls["site-a"].startswith("sqlite"):
                return f"sqlite:///{tmp_path / f'restore-{time.monotonic_ns()}.db'}"
            return stack.enter_context(_postgres())

        yield make


async def _acknowledged(cluster: Cluster, site: str) -> None:
    """Wait until the site's node recorded its head as acknowledged (the replicas
    took it)."""
    db = cluster[site].db
    head = cluster[site].state().head
    await cluster.wait_for(lambda: acknowledged(db, SENDAI).seq == head, what="the acked head")


def _local_head(connection: Connection, state: CopyState) -> Acknowledged:
    return Acknowledged(state.head, state.write_epoch, writer_history(connection, state))


@pytest.mark.anyio
async def test_after_a_failover_the_archive_holds_the_new_primarys_history_only(
    cluster: Cluster,
    buckets: list[Bucket],
    fresh_url: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    master = MasterKey(b"f" * 32)
    for site in (a, b, c):
        site.node.retention.backups = BackupPlan(master, buckets, interval_seconds=0)
    await commit(a, write_audit(count=5))
    await cluster.caught_up("site-b", "site-c")
    await _acknowledged(cluster, "site-a")
    acked = a.state().head
    create_backup(a.db, SENDAI, master, buckets, "site-a")

    # The primary is cut off; it commits a tail nobody acknowledges.
    cluster.router.isolated.add("site-a")
    await commit(a, write_audit(count=3, actor="tail"), wait=False)
    tail_head = a.state().head
    assert tail_head > acked
    # Its backups hold the acknowledged head only: the log up to it, and no snapshot
    # of the tail (it waits for an acknowledgement that never comes).
    assert archive_log(a.db, SENDAI, master, buckets, "site-a").seq == acked
    with pytest.raises(NotAcknowledged):
        backup_snapshot(a.db, SENDAI, master, buckets, "site-a", ack_wait=0.5)
    assert archived_seq(buckets[0], master, SENDAI) == acked
    # As a version before the acknowledged head did: the tail archived anyway. It must
    # not become history (the new primary archives from its fork point).
    with monkeypatch.context() as patch:
        patch.setattr(archive, "acknowledged_head", _local_head)
        assert archive_log(a.db, SENDAI, master, buckets, "site-a").seq == tail_head

    # Failover to b, which writes at the seqs of a's tail in its new epoch.
    controller = cluster.client("site-c")
    epoch = cluster.placements.revision + 1
    for replica in ("site-b", "site-c"):
        await controller.seal(replica, SENDAI, epoch)
    cluster.place("site-b", ("site-c", "site-a"), in_sync=("site-c",))
    await cluster.wait_for(lambda: b.state().role == "primary", what="b to take over")
    await commit(b, add_user("after-failover"))
    first_seq, first_digest = b.state().head, b.digest()
    assert first_seq <= tail_head  # a seq of the quarantined tail
    await commit(b, write_audit(count=4, actor="new"))
    await cluster.caught_up("site-c")
    await _acknowledged(cluster, "site-b")

    # b archives from the fork point of its epoch, and a snapshot.
    assert await b.node.retention.back_up(SENDAI) == b.state().head
    assert b.node.retention.backed_up[SENDAI] == (b.state().write_epoch, b.state().head)
    for seq, digest in [(first_seq, first_digest), (None, b.digest())]:
        into = Database(fresh_url())
        into.migrate(SCHEMA_HISTORY)
        try:
            restored = restore(buckets[1], master, SENDAI, into, seq=seq)
            assert restored.seq == (seq or b.state().head)
            assert tenant_digest(into, SENDAI).digest == digest
        finally:
            into.dispose()


def test_a_damaged_log_segment_or_a_wrong_key_restores_nothing(
    primary: Database, buckets: list[Bucket], fresh_url: Callable[[], str], tmp_path: Path
) -> None:
    master = MasterKey(b"h" * 32)
    create_tenant(primary, SENDAI, "仙台市")
    add_user("ito")(primary)
    create_backup(primary, SENDAI, master, buckets, "site-a")
    write_audit(count=5)(primary)
    segment = archive_log(primary, SENDAI, master, buckets, "site-a")
    assert segment.seq == _seq(primary)
    newest = max(
        (m for m in list_backups(buckets[0], master, SENDAI) if m.kind == "log"),
        key=lambda m: m.last,
    )
    stored = tmp_path / "segment"
    buckets[0].get(newest.key, stored)
    whole = stored.read_bytes()
    flipped = bytearray(whole)
    flipped[-5] ^= 0x01

    def refused(bucket: Bucket, key: MasterKey, expected: str) -> None:
        into = Database(fresh_url())
        into.migrate(SCHEMA_HISTORY)
        try:
            with pytest.raises(BackupCorrupted, match=expected):
                restore(bucket, key, SENDAI, into)
            # Nothing of the tenant was written: not the snapshot either.
            with reading(into.engine) as connection:
                assert read(connection, SENDAI).applied_seq == 0
            assert all(t.rows == 0 for t in tenant_digest(into, SENDAI).tables.values())
        finally:
            into.dispose()

    for damaged, expected in [(bytes(flipped), "hash differs"), (whole[:-40], "hash differs")]:
        stored.write_bytes(damaged)
        buckets[0].put(newest.key, stored)
        refused(buckets[0], master, expected)
    refused(buckets[1], MasterKey(b"w" * 32), "another master key")


def test_two_interleaved_attempts_of_one_snapshot_step_leave_whole_manifests(
    primary: Database, buckets: list[Bucket], fresh_url: Callable[[], str]
) -> None:
    """A job's step run twice at once (a retry while the first attempt still uploads):
    objects are named by their hash and each manifest is written last, so whichever
    manifest wins names a whole object whose hash it states."""
    master = MasterKey(b"i" * 32)
    create_tenant(primary, SENDAI, "仙台市")
    add_user("kato")(primary)
    create_backup(primary, SENDAI, master, buckets, "site-a")
    write_audit(count=3)(primary)
    calls = 0

    def second_attempt_meanwhile() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first attempt uploaded its object; its manifest comes next
            write_audit(count=2)(primary)
            backup_snapshot(primary, SENDAI, master, buckets, "site-a", key="job-x-1")

    backup_snapshot(
        primary, SENDAI, master, buckets, "site-a", key="job-x-1", fence=second_attempt_meanwhile
    )
    assert verify(buckets[0], master, SENDAI).ok
    names = [m.name for m in list_backups(buckets[0], master, SENDAI) if "job-x-1" in m.name]
    assert len(names) == 2  # one per seq the attempts read, each whole
    into = Database(fresh_url())
    into.migrate(SCHEMA_HISTORY)
    try:
        assert restore(buckets[0], master, SENDAI, into).seq == _seq(primary)
        assert tenant_digest(into, SENDAI).digest == tenant_digest(primary, SENDAI).digest
    finally:
        into.dispose()


def _snapshots_sent(cluster: Cluster, site: str) -> int:
    return sum(
        count
        for (host, path), count in cluster.router.delivered.items()
        if host == site and path.endswith("/snapshot")
    )


@pytest.mark.anyio
async def test_drill_a_site_whose_data_is_gone_restores_from_a_bucket_and_catches_up(
    cluster: Cluster, buckets: list[Bucket]
) -> None:
    """A replica's data is deleted while it is down; it comes back, restores the tenant
    it holds from another site's bucket, and the primary's stream brings it up to date
    from there (no snapshot bootstrap): its digest equals the primary's."""
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    master = MasterKey(b"d" * 32)
    a.node.retention.backups = BackupPlan(master, buckets, interval_seconds=0)
    await commit(a, write_audit(count=20))
    await commit(a, add_user("watanabe"))
    await cluster.caught_up("site-b", "site-c")
    await _acknowledged(cluster, "site-a")
    assert await a.node.retention.back_up(SENDAI) == a.state().head

    cluster.router.down.add("site-b")  # b is down...
    archive._remove(b.db, SENDAI)  # ...and its data is gone
    assert b.state().head == 0
    await commit(a, write_audit(count=5, actor="while-b-was-down"))  # c acknowledges
    restored = restore(buckets[1], master, SENDAI, b.db)
    assert restored.seq < a.state().head
    snapshots_before = _snapshots_sent(cluster, "site-b")
    cluster.router.down.discard("site-b")  # b is back with the restored copy
    await commit(a, rename_user("watanabe", "渡辺"))
    await cluster.caught_up("site-b", within=30)
    assert b.digest() == a.digest()
    assert _snapshots_sent(cluster, "site-b") == snapshots_before


@pytest.mark.anyio
async def test_drill_every_copy_lost_the_newest_backup_becomes_the_primary(
    cluster: Cluster, buckets: list[Bucket]
) -> None:
    """Every live copy of the tenant is lost: its newest backup is restored at a site of
    its placement, which is promoted (as `yui failover force-promote` does: sealed at a
    new epoch, an empty in-sync set); the restore reports the last seq it holds and that
    later writes may be missing; writes resume once a replica caught up."""
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]
    master = MasterKey(b"e" * 32)
    a.node.retention.backups = BackupPlan(master, buckets, interval_seconds=0)
    await commit(a, write_audit(count=12))
    await cluster.caught_up("site-b", "site-c")
    await _acknowledged(cluster, "site-a")
    assert await a.node.retention.back_up(SENDAI) == a.state().head
    backed_up_seq, backed_up_digest = a.state().head, a.digest()
    await commit(a, add_user("not-backed-up"))  # acknowledged, never archived
    lost_head = a.state().head

    for site in ("site-a", "site-b", "site-c"):  # every copy is lost
        cluster.router.down.add(site)
        archive._remove(cluster[site].db, SENDAI)
    restored = restore(buckets[1], master, SENDAI, b.db)
    assert restored.seq == backed_up_seq < lost_head
    assert f"seq {backed_up_seq}" in restored.summary()
    assert f"seq {backed_up_seq + 1} on" in restored.summary()

    for site in ("site-b", "site-c"):
        cluster.router.down.discard(site)
    controller = cluster.client("site-c")
    epoch = cluster.placements.revision + 1
    for site in ("site-b", "site-c"):
        await controller.seal(site, SENDAI, epoch)
    cluster.place("site-b", ("site-c", "site-a"), in_sync=())
    await cluster.wait_for(lambda: b.state().role == "primary", what="b to take over")
    assert b.digest() == backed_up_digest
    await cluster.wait_for(
        lambda: c.state().applied_seq >= backed_up_seq, within=30, what="c to catch up"
    )
    in_sync = cluster.placements.placement(SENDAI)
    await cluster.wait_for(
        lambda: "site-c" in (cluster.placements.placement(SENDAI) or in_sync).in_sync,
        within=30,
        what="c in sync",
    )
    await commit(b, add_user("after-restore"))
    await cluster.caught_up("site-c")
    assert c.digest() == b.digest()


@pytest.mark.anyio
async def test_backup_create_at_a_replica_says_so_and_writes_nothing(
    cluster: Cluster, buckets: list[Bucket], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from assembly.cli.main import app as cli

    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    await cluster.caught_up("site-b")
    for name, value in {
        "YUI_DATABASE_URL": cluster.urls["site-b"],
        "YUI_DATA_DIR": str(tmp_path / "data"),
        "YUI_SITE": "site-b",
        "YUI_BACKUP_TARGETS": str(buckets[0].target),
        "YUI_BACKUP_KEY_FILE": str(tmp_path / "backup.key"),
    }.items():
        monkeypatch.setenv(name, value)
    result = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(cli, ["backup", "create", "--tenant", SENDAI])
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "主系ではありません" in said and "not the primary" in said
    assert buckets[0].names(f"yui/{SENDAI}/") == []


def test_a_backup_job_without_a_new_snapshot_still_tells_what_it_holds(
    primary: Database, buckets: list[Bucket]
) -> None:
    """The truncation floor waits for what the last backup job holds, in its epoch: a
    job whose snapshot was not due says it too."""
    from replication.backup.job import backup_kind, held_by_backups
    from yui.jobs import service
    from yui.jobs.kinds import JobKinds
    from yui.jobs.runner import run_job

    plan = BackupPlan(MasterKey(b"j" * 32), buckets, interval_seconds=0)
    kinds = JobKinds()
    kinds.register(backup_kind(plan))
    create_tenant(primary, SENDAI, "仙台市")
    for count in (4, 3):  # the first job makes a snapshot; the second only a segment
        write_audit(count=count)(primary)
        with primary.unit_of_work(SENDAI) as uow:
            job_id = service.enqueue(uow, SENDAI, "backup", {}).id
            uow.commit()
        assert run_job(primary, kinds, SENDAI, job_id, site="site-a").state == "done"
        job = service.latest(primary, SENDAI, "backup", state="done")
        assert job is not None and held_by_backups(primary, SENDAI) == (0, job.results[-1]["held"])
    assert job.results[-1]["snapshot"] is None


# ----------------------------------------------------------- a restore's load, its indexes


def _registry(db: Database, tenant: str, count: int, folder: Path) -> None:
    """A tenant with ``count`` residents, imported as `yui residents import` does."""
    from residents.csvio.importer import import_file
    from residents.demo.service import write_csv

    create_tenant(db, tenant, "仙台市" if tenant == SENDAI else "札幌市")
    csv = folder / f"{tenant}.csv"
    with csv.open("wb") as stream:
        write_csv(stream, tenant, count, seed=3)
    assert import_file(db, tenant, csv, actor="test").imported == count


def _indexes(db: Database) -> dict[str, list[tuple[str, tuple[str | None, ...], bool]]]:
    """Every index of every table, as the database reports it."""
    from sqlalchemy import inspect

    inspector = inspect(db.engine)
    return {
        table: sorted(
            (str(i["name"]), tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(table)
        )
        for table in inspector.get_table_names()
    }


SAPPORO = "011002"


@pytest.fixture
def small_load(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Load thresholds scaled down to a test's tenant; the indexes built, as they are."""
    from replication.replica import snapshot

    monkeypatch.setattr(snapshot, "ROWS_PER_INSERT", 10)
    monkeypatch.setattr(snapshot, "DEFER_INDEXES_AFTER", 40)
    built: list[str] = []
    build = snapshot.build_index

    def recorded(connection: Connection, create: str) -> None:
        built.append(create)
        build(connection, create)

    monkeypatch.setattr(snapshot, "build_index", recorded)
    return built


def test_a_restore_loads_a_big_table_without_its_indexes_and_builds_them_at_its_end(
    primary: Database,
    buckets: list[Bucket],
    fresh_url: Callable[[], str],
    tmp_path: Path,
    small_load: list[str],
) -> None:
    """SQLite: a table that receives more rows than it holds is loaded without its
    secondary indexes and they are built once at its end, the same as the migrations
    made them; where other tenants hold more, they are kept. PostgreSQL keeps them."""
    master = MasterKey(b"l" * 32)
    _registry(primary, SENDAI, 60, tmp_path)
    create_backup(primary, SENDAI, master, buckets, "site-a")
    expected = tenant_digest(primary, SENDAI).digest

    empty = Database(fresh_url())
    empty.migrate(SCHEMA_HISTORY)
    migrated = _indexes(empty)
    try:
        assert restore(buckets[0], master, SENDAI, empty).seq == _seq(primary)
        assert tenant_digest(empty, SENDAI).digest == expected
        assert _indexes(empty) == migrated
    finally:
        empty.dispose()
    if primary.engine.dialect.name == "sqlite":  # every residents' index, built once
        residents = {create for _, create in _sql_indexes(primary, "residents")}
        assert residents and residents <= set(small_load)
        assert len(small_load) == len(set(small_load))
    else:
        assert small_load == []

    # A target whose other tenant holds more residents: their indexes stay up all along.
    small_load.clear()
    shared = Database(fresh_url())
    shared.migrate(SCHEMA_HISTORY)
    try:
        _registry(shared, SAPPORO, 80, tmp_path)
        theirs = tenant_digest(shared, SAPPORO).digest
        restore(buckets[1], master, SENDAI, shared)
        assert tenant_digest(shared, SENDAI).digest == expected
        assert tenant_digest(shared, SAPPORO).digest == theirs
        assert small_load == [] and _indexes(shared) == migrated
    finally:
        shared.dispose()


def _sql_indexes(db: Database, table: str) -> list[tuple[str, str]]:
    from replication.replica.snapshot import _secondary_indexes

    with db.engine.connect() as connection:
        return _secondary_indexes(connection, table)


_STALLED_RESTORE = """
import importlib, json, sys, time
from pathlib import Path

from replication.backup.archive import restore
from replication.backup.crypto import MasterKey
from replication.backup.store import Bucket, Target
from replication.replica import snapshot
from yui.db.database import Database

args = json.loads(sys.argv[1])
for module in args["models"]:  # the tables the test's process knows, no more, no less
    importlib.import_module(module)
snapshot.ROWS_PER_INSERT, snapshot.DEFER_INDEXES_AFTER = 10, 40
build = snapshot.build_index


def stalled(connection, create):
    build(connection, create)  # the first index is built, the process dies in the next
    Path(args["marker"]).write_text(create)
    time.sleep(300)


snapshot.build_index = stalled
bucket = Bucket(Target(args["endpoint"], args["bucket"]))
restore(bucket, MasterKey(bytes.fromhex(args["key"])), args["tenant"], Database(args["url"]))
"""


def test_a_restore_killed_while_it_builds_the_indexes_leaves_the_target_as_it_was(
    primary: Database,
    buckets: list[Bucket],
    fresh_url: Callable[[], str],
    tmp_path: Path,
    small_load: list[str],
) -> None:
    """The indexes a load went without are dropped and built inside its one transaction:
    a restore killed in the middle of building them leaves the target's other tenant,
    its indexes and no row of the restored tenant (nothing half-loaded is served), and
    the restore can simply run again."""
    import json
    import signal
    import subprocess
    import sys

    from yui.db.base import Base

    if primary.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps the indexes during a load")
    master = MasterKey(b"m" * 32)
    _registry(primary, SENDAI, 60, tmp_path)
    create_backup(primary, SENDAI, master, buckets, "site-a")
    target = Database(fresh_url())
    target.migrate(SCHEMA_HISTORY)
    migrated = _indexes(target)
    _registry(target, SAPPORO, 5, tmp_path)
    theirs = tenant_digest(target, SAPPORO).digest
    marker = tmp_path / "building"
    arguments = {
        "endpoint": str(buckets[0].target.endpoint),
        "bucket": buckets[0].target.bucket,
        "key": (b"m" * 32).hex(),
        "tenant": SENDAI,
        "url": str(target.engine.url),
        "marker": str(marker),
        "models": sorted({mapper.class_.__module__ for mapper in Base.registry.mappers}),
    }
    child = subprocess.Popen([sys.executable, "-c", _STALLED_RESTORE, json.dumps(arguments)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the restore never reached its index build"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    try:
        with target.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        with reading(target.engine) as connection:
            assert read(connection, SENDAI).applied_seq == 0
        assert all(t.rows == 0 for t in tenant_digest(target, SENDAI).tables.values())
        assert tenant_digest(target, SAPPORO).digest == theirs
        assert _indexes(target) == migrated

        restore(buckets[0], master, SENDAI, target)  # and it runs again, whole
        assert tenant_digest(target, SENDAI).digest == tenant_digest(primary, SENDAI).digest
        assert _indexes(target) == migrated
    finally:
        target.dispose()
