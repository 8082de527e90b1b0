"""Writing a consistent snapshot of a tenant at seq S, streamed, for a replica to load
(replication.replica.snapshot) or for a backup.

The primary reads every tenant table in one consistent read (with the log head S it
saw) and writes newline-delimited JSON: a header, then per table its column names and
lines of up to 1000 rows (a JSON array of arrays), then an end line; the sender adds a
signed trailer line. Neither side ever holds the whole tenant.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select

from replication.entries import writer_history
from replication.pipe import Pipe
from replication.protocol.wire import SNAPSHOT_FORMAT
from replication.sql import consistent_read
from replication.state import read
from replication.tables import codec, replicated_tables
from yui.db.database import Database

log = logging.getLogger("yui.replication")

ROWS_PER_CHUNK = 1000
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _line(value: Any) -> bytes:
    return _dumps(value).encode() + b"\n"


def produce(db: Database, tenant: str, epoch: int, out: Pipe[bytes | None]) -> int:
    """Write the tenant's snapshot into ``out`` (then None); returns its seq. Runs in
    a worker thread."""
    with consistent_read(db.engine) as connection:
        state = read(connection, tenant)
        seq = state.head
        tables = replicated_tables()
        out.put(
            _line(
                {
                    "snapshot": {
                        "format": SNAPSHOT_FORMAT,
                        "tenant": tenant,
                        "seq": seq,
                        "epoch": epoch,
                        "epochs": writer_history(connection, state),
                        "tables": [str(t.name) for t in tables],
                    }
                }
            )
        )
        total = 0
        for table in tables:
            table_codec = codec(table)
            out.put(_line({"table": str(table.name), "columns": list(table_codec.columns)}))
            query = select(*(table.c[name] for name in table_codec.columns)).where(
                table.c.tenant_id == tenant
            )
            result = connection.execution_options(yield_per=ROWS_PER_CHUNK).execute(query)
            encode = table_codec.encode
            for rows in result.partitions(ROWS_PER_CHUNK):
                out.put(_line([encode(row) for row in rows]))
                total += len(rows)
        out.put(_line({"end": {"rows": total, "seq": seq}}))
    out.put(None)
    log.info("tenant %s: snapshot at seq %d, %d rows", tenant, seq, total)
    return seq
