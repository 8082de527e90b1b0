"""A per-tenant digest of every row, equal on every copy that applied the same seq.

Each row is put in a canonical form (its values in column-name order, datetimes in
UTC, JSON with sorted keys) and hashed with SHA-256; a table's digest is the sum of its
rows' hashes modulo 2**256 (a multiset hash), so it does not depend on the order the
database returns rows in — collations differ between SQLite and PostgreSQL. The
tenant's digest is the SHA-256 of every table's name, row count and digest. It is
computed in one consistent read, with the seq that read saw.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, select

from replication.sql import consistent_read
from replication.state import read
from replication.tables import replicated_tables
from yui.db.database import Database

_MODULUS = 1 << 256


@dataclass(frozen=True)
class TableSum:
    rows: int
    digest: str


@dataclass(frozen=True)
class Digest:
    tenant: str
    seq: int
    digest: str
    tables: dict[str, TableSum]


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if hasattr(value, "value"):
        return _canonical(value.value)
    return str(value)


@cache
def _columns(table: Table) -> tuple[str, ...]:
    return tuple(sorted(str(c.name) for c in table.columns))


def table_sum(connection: Connection, table: Table, tenant: str) -> TableSum:
    names, canonical = _columns(table), _canonical
    query = select(*(table.c[name] for name in names)).where(table.c.tenant_id == tenant)
    prefix = f"{table.name}\x00".encode()
    total, count = 0, 0
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
    for row in connection.execution_options(yield_per=5000).execute(query):
        text = dumps([canonical(value) for value in row])
        total = (total + int.from_bytes(hashlib.sha256(prefix + text.encode()).digest())) % _MODULUS
        count += 1
    return TableSum(count, f"{total:064x}")


def tenant_digest(db: Database, tenant: str) -> Digest:
    """The digest of the tenant's rows here, with the seq they reflect."""
    with consistent_read(db.engine) as connection:
        return digest_in(connection, tenant)


def digest_in(connection: Connection, tenant: str) -> Digest:
    """The digest of the tenant's rows as ``connection``'s transaction sees them, with the
    seq they reflect: call it inside one consistent read (:func:`replication.sql.consistent_read`)
    to digest the same state as other reads of that transaction."""
    seq = read(connection, tenant).applied_seq
    tables = {str(t.name): table_sum(connection, t, tenant) for t in replicated_tables()}
    overall = hashlib.sha256()
    for name in sorted(tables):
        overall.update(f"{name}\x00{tables[name].rows}\x00{tables[name].digest}\n".encode())
    return Digest(tenant, seq, overall.hexdigest(), tables)
