"""A snapshot whose loader fails answers with the loader's error instead of hanging.

Found by a site-kill drill of stock movements (docs/drills.md, "The hunt of the unconverged
copy"): a deposed primary's copy was never reseeded. On its busy site the loader failed
("database is locked") while the request's feed waited to put into the full pipe between
them; nothing closed the pipe, so the feed waited for ever, holding the tenant's gate, and
every later snapshot and batch for the tenant queued behind it (py-spy: one AnyIO worker
in Pipe.put, no loader thread)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy.exc import OperationalError

from replication.primary.primaries import Primaries
from replication.protocol.signing import TrustStore
from replication.replica.receiver import Receiver
from tests.support.drill_sites import site_db
from tests.support.factories import SENDAI
from yui.db import engine as engine_module
from yui.db.database import Database
from yui.errors import InvalidInput


async def _stream(lines: int) -> AsyncIterator[bytes]:
    """A snapshot stream's start and more row lines than the pipe to the loader holds."""
    header = {"snapshot": {"format": 1, "tenant": SENDAI, "seq": 1, "epoch": 1, "epochs": []}}
    yield json.dumps(header).encode() + b"\n"
    for n in range(lines):
        yield json.dumps({"row": n}).encode() + b"\n"
        await asyncio.sleep(0)


def test_a_loader_that_fails_ends_the_snapshot_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_db(tmp_path, "seed").dispose()
    monkeypatch.setattr(engine_module, "LOCK_WAIT_MS", 300)  # a busy site, quickly
    db = Database(f"sqlite:///{tmp_path / 'seed'}.db")
    receiver = Receiver("replica", db, TrustStore(), cast(Primaries, None))
    writer = sqlite3.connect(tmp_path / "seed.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the site's writers hold the lock: the load cannot begin

    async def snapshot() -> None:
        await asyncio.wait_for(receiver.take_snapshot(SENDAI, "primary", "", _stream(200)), 20)

    try:
        with pytest.raises(OperationalError, match="database is locked"):
            asyncio.run(snapshot())  # before: TimeoutError, the feed stuck in Pipe.put
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        db.dispose()
    assert not receiver.gate(SENDAI).lock.locked()  # later batches are not queued behind it


class _SenderWentAway(Exception):
    """What the framework raises when the client disconnects mid-body."""


async def _cut_off(lines: int) -> AsyncIterator[bytes]:
    async for chunk in _stream(lines):
        yield chunk
    raise _SenderWentAway


def test_a_snapshot_cut_off_by_its_sender_is_bad_input_and_loads_nothing(
    tmp_path: Path,
) -> None:
    """The soak saw a deposed primary's snapshot cut off mid-stream: the receiving site
    logged an unhandled error (a 500) for the client's disconnect. It is a snapshot without
    its trailer: refused as bad input, the copy left as it was."""
    site_db(tmp_path, "seed").dispose()
    db = Database(f"sqlite:///{tmp_path / 'seed'}.db")
    receiver = Receiver("replica", db, TrustStore(), cast(Primaries, None))
    before = asyncio.run(receiver.state(SENDAI))

    async def snapshot() -> None:
        await asyncio.wait_for(receiver.take_snapshot(SENDAI, "primary", "", _cut_off(5)), 20)

    try:
        with pytest.raises(InvalidInput, match="broke off"):
            asyncio.run(snapshot())
        assert asyncio.run(receiver.state(SENDAI)) == before
    finally:
        db.dispose()
    assert not receiver.gate(SENDAI).lock.locked()
