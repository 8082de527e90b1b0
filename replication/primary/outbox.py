"""The newest entries of one tenant's log at its primary, encoded once for every stream.

The committing thread fills it right after its commit (the kernel's on_logged hook),
from the log rows change capture inserted — the very objects the INSERT was bound to,
encoded as the log gives them back (`read_shipped`), so what a replica receives is what
the log holds without reading it back (tests/replication/test_outbox_bytes.py holds the
two forms equal). Only entries the hook was not given (another committer's not staged
yet, a bulk insert's) are read from the log. A stream wakes up with its next batch in
memory, already in its wire form, each entry encoded once however many replicas there
are. A stream that needs older entries (a replica catching up) reads the log itself.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection, Engine

from replication.entries import LogEntry, read_range
from replication.sql import reading
from yui.db.context import LogRow
from yui.db.engine import make_engine

#: entries kept; older ones are read from the log when a stream needs them
CAPACITY = 20_000
#: the staging pool's connections, and how long a committer waits for one before it
#: skips staging (the streams then read the log: staging only saves them that read)
STAGING_POOL = 4
STAGING_WAIT_SECONDS = 0.5

#: the most a committing thread reads at once (a bulk import logs far more: streams read it)
FILL_LIMIT = 2_000


@dataclass(frozen=True, slots=True)
class Shipped:
    """An entry in its wire form (JSON bytes)."""

    seq: int
    epoch: int
    tx_seq: int
    at: datetime
    json: bytes

    @classmethod
    def of(cls, entry: LogEntry) -> Shipped:
        data = orjson.dumps(entry.wire())  # compact UTF-8, as json.dumps(…, ensure_ascii=False)
        return cls(entry.seq, entry.epoch, entry.tx_seq, entry.at, data)


def read_shipped(
    connection: Connection, tenant: str, first: int, count: int
) -> tuple[list[Shipped], bool]:
    """Up to ``count`` entries from ``first``, and whether the last ends its transaction."""
    entries = read_range(connection, tenant, first, limit=count + 1)
    complete = True
    if len(entries) > count:
        following = entries.pop()
        complete = following.tx_seq == following.seq
    return [Shipped.of(entry) for entry in entries], complete


class Outbox:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Shipped] = deque(maxlen=capacity)
        #: the log head when this site became the primary: older entries are never staged
        self._floor = 0

    @property
    def high(self) -> int:
        entries = self._entries
        return entries[-1].seq if entries else self._floor

    def begin_after(self, head: int) -> None:
        """Stage only entries logged after ``head`` (the log head at takeover).

        Without a floor, each commit of a new primary found the outbox empty and read the
        tenant's whole log (up to FILL_LIMIT entries) back — every concurrent committer
        at once, each encoding the same entries while holding the GIL — and the site's
        first acknowledgements waited seconds (bench/failover.py, 2026-12-07). A
        replica behind the head reads the older entries from the log, as it always did."""
        with self._lock:
            if not self._entries:
                self._floor = max(self._floor, head)

    def fill(self, engine: Engine, tenant: str, last_seq: int, rows: Sequence[LogRow] = ()) -> None:
        """After a commit that logged up to ``last_seq`` (the committing thread).

        ``rows``: the log rows change capture inserted in that commit, in seq order. The
        entries they end with are staged from them; the log is read only for entries
        before those that are not staged yet (a concurrent committer's hook may come
        later than this one), or for all when ``rows`` do not end at ``last_seq``.

        ``engine`` must not be the pool the committing threads hold their connections
        from (the node's staging engine): each committer still holds one here, and
        asking the same pool for a second deadlocked a busy site once all its
        connections were held by committers waiting for a second. The read and the
        encoding happen outside the lock, which the event loop's :meth:`take` also takes."""
        high = self.high
        if last_seq <= high:
            return
        first = max(high + 1, last_seq - FILL_LIMIT + 1)
        held = _held(rows, tenant, first, last_seq)
        read_to = held[0]["seq"] - 1 if held else last_seq
        entries: list[Shipped] = []
        if read_to >= first:
            with reading(engine) as connection:
                entries, _complete = read_shipped(connection, tenant, first, read_to - first + 1)
            if not entries or entries[0].seq != first:
                return
            if entries[-1].seq != read_to:
                held = []  # the log ends early (it cannot after a commit): stage what it gave
        entries += [Shipped.of(LogEntry.from_log_row(row)) for row in held]
        with self._lock:
            high = self.high  # another committer may have staged some meanwhile
            entries = [entry for entry in entries if entry.seq > high]
            if not entries:
                return
            if entries[0].seq != high + 1:
                self._entries.clear()  # not contiguous: keep only the newest
            self._entries.extend(entries)

    def take(self, first: int, count: int) -> tuple[list[Shipped], bool] | None:
        """Entries first.. (at most ``count``) if held, and whether the last ends its
        transaction; None when ``first`` is not held (read the log)."""
        with self._lock:
            entries = self._entries
            if not entries or not entries[0].seq <= first <= entries[-1].seq:
                return None
            start = first - entries[0].seq
            taken = [entries[i] for i in range(start, min(start + count, len(entries)))]
            after = start + len(taken)
            complete = after >= len(entries) or entries[after].tx_seq == entries[after].seq
            return taken, complete


def _held(rows: Sequence[LogRow], tenant: str, first: int, last: int) -> Sequence[LogRow]:
    """The rows for seqs ≥ ``first`` of the contiguous run of ``tenant``'s rows that ends
    ``rows`` at ``last`` (empty if ``rows`` do not end there)."""
    if not rows or rows[-1]["seq"] != last or rows[-1]["tenant_id"] != tenant:
        return ()
    start = len(rows) - 1
    while (
        start > 0
        and rows[start - 1]["seq"] >= first
        and rows[start - 1]["seq"] == rows[start]["seq"] - 1
        and rows[start - 1]["tenant_id"] == tenant
    ):
        start -= 1
    return rows[start:] if rows[start]["seq"] >= first else ()


def staging_engine(main: Engine) -> Engine:
    """A small pool of its own for :meth:`ChangeOutbox.fill`, on ``main``'s database."""
    url = main.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return main  # an in-memory database exists once per connection: share it
    return make_engine(
        url.render_as_string(hide_password=False),
        pool_size=STAGING_POOL,
        max_overflow=0,
        pool_timeout=STAGING_WAIT_SECONDS,
    )
