"""The sandbox's copy reader (assembly.drill_runner.sandbox_env.SandboxCopies): a copy is
read whole in one snapshot or counted as not verified.

A site-kill drill of stock movements reported a replica "unconverged, lacking 3
acknowledged movements" with nothing to say where it stood: the reader had read its rows,
then waited 30 s for the primary's write lock to count the quarantine ("database is
locked"), skipped the other copies' digests and went on (docs/drills.md, "Service
workloads")."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assembly.drill_runner.runner import not_verified
from assembly.drill_runner.sandbox_env import SandboxCopies
from assembly.drill_runner.workloads.checks import Record, ServiceCopy
from assembly.site import all_metadata
from failover.drill.checker import CheckResult
from failover.drill.copies import TenantReads, read_copy
from failover.drill.models import DrillProbe
from replication.verify.digest import tenant_digest
from tests.support.drill_sites import site_db
from tests.support.factories import SENDAI
from yui.db import engine as engine_module
from yui.db.database import Database

SITE = "site-a"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated site database holding SENDAI, made once and copied for each test."""
    folder = tmp_path_factory.mktemp("template")
    site_db(folder, "yui").dispose()
    return folder / "yui.db"


@pytest.fixture
def sandbox(migrated: Path, tmp_path: Path) -> Iterator[tuple[SandboxCopies, Database]]:
    folder = tmp_path / "sites" / SITE
    folder.mkdir(parents=True)
    shutil.copyfile(migrated, folder / "yui.db")
    copies = SandboxCopies(tmp_path)
    db = copies.database(SITE)
    yield copies, db
    db.dispose()


def _probe(db: Database) -> None:
    """One replicated write of the tenant (it moves the copy's seq)."""
    with db.unit_of_work(SENDAI) as uow:
        uow.session.add(
            DrillProbe(
                tenant_id=SENDAI,
                id=uuid.uuid4(),
                payload="p",
                site=SITE,
                epoch=0,
                written_at=datetime.now(UTC),
            )
        )
        uow.commit()


def test_rows_and_digest_come_from_one_snapshot_while_the_copy_moves(
    sandbox: tuple[SandboxCopies, Database],
) -> None:
    copies, db = sandbox
    _probe(db)
    all_metadata()  # the tables the reader's digests cover
    before = tenant_digest(db, SENDAI)

    def reader_racing_a_write(
        snapshot: TenantReads, tenants: Sequence[str]
    ) -> Mapping[str, ServiceCopy]:
        rows = read_copy(snapshot, tenants)  # the copy's rows at this moment...
        _probe(db)  # ...then it applies one more entry before the digest is read
        return {
            t: ServiceCopy(records=[Record(r.id, {}) for r in held]) for t, held in rows.items()
        }

    read = copies.read([SITE], [SENDAI], datetime.now(UTC), service=reader_racing_a_write)

    assert read.unreadable == {}
    assert len(read.rows[SITE][SENDAI]) == 1
    (digest,) = read.digests
    # the seq and digest of the state whose rows were read, not of the copy a moment later
    assert (digest.seq, digest.digest) == (before.seq, before.digest)
    assert tenant_digest(db, SENDAI).seq == before.seq + 1


def test_a_copy_whose_writer_holds_the_lock_is_still_read(
    sandbox: tuple[SandboxCopies, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quarantine was counted in a transaction that took SQLite's write lock: behind a
    busy site's writers it waited, then failed the copy ("database is locked")."""
    copies, db = sandbox
    _probe(db)
    monkeypatch.setattr(engine_module, "LOCK_WAIT_MS", 500)  # a busy site, quickly
    writer = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a writer holds the lock throughout the read
    try:
        read = copies.read([SITE], [SENDAI], datetime.now(UTC))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert read.unreadable == {}, read.notes
    assert [d.seq for d in read.digests] == [tenant_digest(db, SENDAI).seq]
    assert read.quarantined == {SENDAI: 0} and len(read.rows[SITE][SENDAI]) == 1


def test_a_copy_that_cannot_be_read_is_not_verified(tmp_path: Path) -> None:
    (tmp_path / "sites" / SITE).mkdir(parents=True)
    (tmp_path / "sites" / SITE / "yui.db").write_bytes(b"not a database" * 100)
    read = SandboxCopies(tmp_path).read([SITE], [SENDAI], datetime.now(UTC))
    assert SITE in read.unreadable and not read.rows and not read.digests
    assert any(f"copy at {SITE} unreadable" in note for note in read.notes)

    result = CheckResult()
    not_verified(result, read, {SENDAI: (SITE, "site-b"), "271004": ("site-b",)})
    assert not result.ok
    [finding] = result.unconverged
    assert finding.tenant == SENDAI and finding.sites == (SITE,)
    assert "could not be read" in finding.detail
