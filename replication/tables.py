"""The tables that replicate (every `TenantScoped` table) and fast row codecs for them.

Replication sees tables and tenants, never services. A table replicates when its
mapped class is tenant-scoped; the site node imports every model before it serves, so
the registry knows them all. The codecs turn a row into JSON values and back, per
column, with the kernel's encoding (yui.changelog.encoding) — prepared once per table,
because a snapshot converts millions of rows.
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Table

from yui.changelog.encoding import from_json, to_json
from yui.db.base import Base, TenantScoped

_PLAIN = (str, int, float, bool)


def _tables_known() -> int:
    # The tables' count (a dict's length), not the registry's mappers (a new frozenset of
    # every mapper on each call, and a replica asks once per entry it applies): a model
    # imported late adds its table, which is all the caches below need to notice.
    return len(Base.metadata.tables)


def replicated_tables() -> list[Table]:
    """Every tenant table, parents before children (the order inserts must follow)."""
    return list(_replicated(_tables_known()))


@cache
def _replicated(_tables: int) -> tuple[Table, ...]:
    scoped = {
        mapper.local_table
        for mapper in Base.registry.mappers
        if isinstance(mapper.class_, type) and issubclass(mapper.class_, TenantScoped)
    }
    return tuple(table for table in Base.metadata.sorted_tables if table in scoped)


def replicated_table(name: str) -> Table | None:
    """The tenant table called ``name``; None for any other (a sender may not write
    the change log, the log heads or this site's own tables through a batch)."""
    return _by_name(_tables_known()).get(name)


@cache
def _by_name(tables: int) -> dict[str, Table]:
    return {str(table.name): table for table in _replicated(tables)}


def _python_type(table: Table, name: str) -> type | None:
    try:
        python_type: type = table.c[name].type.python_type
    except NotImplementedError:
        return None
    return python_type


def _encoder(python_type: type | None) -> Callable[[Any], Any] | None:
    """None when the value is already JSON as it is (the kernel's encoding otherwise)."""
    if python_type in _PLAIN:
        return None
    if python_type in (dt.datetime, dt.date, dt.time):
        return operator.methodcaller("isoformat")
    return to_json


def _decoder(table: Table, name: str, python_type: type | None) -> Callable[[Any], Any] | None:
    if python_type in _PLAIN or python_type is None:
        return None
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat
    if python_type is dt.date:
        return dt.date.fromisoformat
    if python_type is dt.time:
        return dt.time.fromisoformat
    if python_type is uuid.UUID:
        return uuid.UUID
    if python_type is Decimal:
        return Decimal
    return lambda value: from_json(table, name, value)


@dataclass(frozen=True)
class TableCodec:
    table: Table
    columns: tuple[str, ...]
    encoders: tuple[Callable[[Any], Any] | None, ...]
    decoders: dict[str, Callable[[Any], Any] | None]
    #: (index, encoder) of the columns whose values need encoding
    steps: tuple[tuple[int, Callable[[Any], Any]], ...]

    def encode(self, row: Sequence[Any]) -> list[Any]:
        """A database row (values in ``columns`` order) as a list of JSON values."""
        values = list(row)
        for index, encode in self.steps:
            value = values[index]
            if value is not None:
                values[index] = encode(value)
        return values

    def stored_as_json(self, dialect: str) -> frozenset[str]:
        """Columns whose JSON value is already what the database stores (SQLite keeps a
        date as its ISO text, a boolean as 0 or 1): a bulk load passes them untouched."""
        if dialect != "sqlite":
            return frozenset()
        kept = (dt.date, bool)
        return frozenset(c for c in self.columns if _python_type(self.table, c) in kept)

    def decode(self, values: dict[str, Any]) -> dict[str, Any]:
        """JSON values by column name back to Python values."""
        decoders = self.decoders
        out: dict[str, Any] = {}
        for name, value in values.items():
            decode = decoders[name]
            out[name] = value if decode is None or value is None else decode(value)
        return out


@cache
def codec(table: Table) -> TableCodec:
    columns = tuple(str(column.name) for column in table.columns)
    types = {name: _python_type(table, name) for name in columns}
    encoders = tuple(_encoder(types[name]) for name in columns)
    return TableCodec(
        table=table,
        columns=columns,
        encoders=encoders,
        decoders={name: _decoder(table, name, types[name]) for name in columns},
        steps=tuple((i, encode) for i, encode in enumerate(encoders) if encode is not None),
    )
