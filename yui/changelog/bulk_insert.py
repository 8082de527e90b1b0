"""Bulk INSERT of tenant rows that is change-logged like `session.add` would be.

SQLAlchemy's bulk INSERT (`session.execute(insert(Model), rows)`) is the fast path for
imports of a million rows, but it fires no mapper events, so the change capture would
never see its rows. `insert_rows` inserts the rows and appends one change-log entry
per row in the same transaction, after every change the session made before it (so
a household added as an object is logged before the residents that refer to it).

Call it once per batch: a long import then never holds its rows, or their entries,
in memory. The log head's row lock is held from the first batch until the commit
(other writers of the same tenant wait, as they wait for any write).

Both INSERTs are compiled once per call and run as one DBAPI `executemany` with the
column types' own bind processors, which is what SQLAlchemy's executemany does minus
its per-row bookkeeping (a third of the cost of a million-row import).

Entries' JSON is written with orjson (several times faster than the standard library's
encoder; dates and datetimes in ISO format as `encoding.to_json` writes them). A caller
that has the JSON of most columns already — a CSV parser process encodes it while this
process writes the previous batch — passes it as `Encoded`; the entry is then that JSON
plus the other columns, and the first and last row of each batch are checked against
the row as this module would log it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
from sqlalchemy import JSON, Date, Table, inspect
from sqlalchemy.orm import Session

from yui.changelog.capture import append_to_log, reserve_seqs
from yui.changelog.encoding import to_json
from yui.changelog.models import ChangeLogEntry
from yui.db.base import TenantScoped
from yui.db.context import context_of
from yui.errors import TenantScopeError
from yui.tenancy.scope import tenant_in_scope


def insert_rows(
    session: Session, model: type[TenantScoped], rows: Sequence[dict[str, Any]]
) -> None:
    """INSERT `rows` (attribute names → values) of `model`, and log each as an insert.

    Missing attributes take the column's Python default; `tenant_id` defaults to the
    tenant in scope and must equal it. A column with only a server-side default must
    be given, because the entry must carry exactly the row the database holds.
    """
    if not rows:
        return
    mapper = inspect(model)
    known = {prop.key: prop.columns[0] for prop in mapper.column_attrs}
    keys = set().union(*(row.keys() for row in rows))
    if not keys <= known.keys():
        raise ValueError(f"{model.__name__} has no attribute(s) {sorted(keys - known.keys())}")
    columns: dict[str, list[Any]] = {}
    for key in keys:
        default = _default(model, key, known[key])
        if key == "tenant_id" or default is None:
            columns[key] = [row.get(key) for row in rows]
        else:
            columns[key] = [row[key] if key in row else default() for row in rows]
    if "tenant_id" in columns and None in columns["tenant_id"]:
        tenant = tenant_in_scope(session)
        columns["tenant_id"] = [
            tenant if value is None else value for value in columns["tenant_id"]
        ]
    insert_columns(session, model, columns)


@dataclass(frozen=True, slots=True)
class Encoded:
    """The change-log JSON of some columns of each row, made by the caller.

    `members[i]` is row i's members for the columns `names` (column names), without
    braces: `"name":value,…` exactly as this module encodes them (orjson; dates and
    datetimes in ISO format). Those columns must also be given as values to insert.
    """

    names: frozenset[str]
    members: Sequence[str]


def encode_members(values: Mapping[str, Any]) -> str:
    """The `Encoded.members` text of one row's values (column name → value)."""
    return _dumps(values)[1:-1]


def insert_columns(
    session: Session,
    model: type[TenantScoped],
    columns: Mapping[str, Sequence[Any]],
    *,
    encoded: Encoded | None = None,
) -> None:
    """`insert_rows` given column by column: attribute name → one value per row.

    The form a million-row import builds most cheaply (zip, list comprehensions);
    attributes not given take their defaults, as in `insert_rows`. `encoded`: the
    change-log JSON of some columns, already made (see `Encoded`).
    """
    counts = {len(values) for values in columns.values()}
    if len(counts) != 1:
        raise ValueError(f"columns of different lengths: {sorted(counts)}")
    (count,) = counts
    if count == 0:
        return
    context = context_of(session)
    tenant = context.tenant
    if tenant is None or context.all_tenants or context.applying:
        raise TenantScopeError("a bulk insert needs exactly one tenant in scope")
    if context.write_gate is not None:
        # refuse at the first batch, not after a million rows (the commit asks again)
        context.write_gate(tenant)
    mapper = inspect(model)
    table = mapper.local_table
    assert isinstance(table, Table)
    attributes = [(prop.key, prop.columns[0]) for prop in mapper.column_attrs]
    unknown = columns.keys() - {key for key, _column in attributes}
    if unknown:
        raise ValueError(f"{model.__name__} has no attribute(s) {sorted(unknown)}")

    by_column: dict[str, list[Any]] = {}
    for key, column in attributes:
        if key in columns:
            values = list(columns[key])
        elif key == "tenant_id":
            values = [tenant] * count
        elif column.default is not None and column.default.is_scalar:
            values = [column.default.arg] * count
        else:
            default = _default(model, key, column)
            values = [default() for _ in range(count)] if default else [None] * count
        by_column[column.name] = values
    if any(value != tenant for value in by_column["tenant_id"]):
        raise TenantScopeError(f"{model.__name__} of another tenant written in {tenant}")
    table_columns = {column.name: column for column in table.columns}
    loggable = {
        name: _loggable(table_columns[name], values)
        for name, values in by_column.items()
        if encoded is None or name not in encoded.names
    }
    if encoded is None:
        names = list(loggable)
        logged = [
            _dumps(dict(zip(names, values, strict=True)))
            for values in zip(*loggable.values(), strict=True)
        ]
    else:
        logged = _compose(loggable, encoded, count)
        _check_encoded(logged, by_column, table_columns)
    pk_names = [column.name for column in mapper.primary_key]

    # the session's earlier changes first: they may be referred to
    append_to_log(session, context)
    seqs = reserve_seqs(session, tenant, count)
    _executemany(session, table, by_column)
    _executemany(
        session,
        ChangeLogEntry.__table__,  # type: ignore[arg-type]
        {
            "tenant_id": [tenant] * count,
            "seq": list(range(seqs.first, seqs.first + count)),
            "epoch": [seqs.epoch] * count,
            "tx_seq": [seqs.tx_seq] * count,
            "table_name": [str(table.name)] * count,
            "op": ["insert"] * count,
            "pk": _pk_json(pk_names, by_column, table_columns),
            "row": logged,
            "committed_at": [datetime.now(UTC)] * count,
        },
        json_text=frozenset({"pk", "row"}),
    )


def _default(model: type[Any], key: str, column: Any) -> Callable[[], Any] | None:
    default = column.default
    if default is not None and default.is_scalar:
        return lambda: default.arg
    if default is not None and default.is_callable:
        return lambda: default.arg(None)
    if default is not None or column.server_default is not None:

        def fail() -> Any:
            raise ValueError(f"{model.__name__}.{key} has a database-side default: give it")

        return fail
    return None


def _loggable(column: Any, values: list[Any]) -> list[Any]:
    """The column's values as the change log writes them (see changelog.encoding.to_json):
    orjson writes dates and datetimes as their isoformat() already."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = object
    if python_type in (str, int, float, bool, date, datetime):
        return values
    if python_type is time:  # orjson refuses times with a zone; isoformat() does not
        return [None if value is None else value.isoformat() for value in values]
    return [to_json(value) for value in values]


def _compose(loggable: dict[str, list[Any]], encoded: Encoded, count: int) -> list[str]:
    """Each row's JSON: the caller's members, the columns the same in every row (encoded
    once), and the others (encoded value by value)."""
    if len(encoded.members) != count or not encoded.names:
        raise ValueError(f"encoded JSON for {len(encoded.members)} rows of {count}")
    prefix = "{"
    varying: list[list[str]] = [list(encoded.members)]
    for name, values in loggable.items():
        first = values[0]
        key = _dumps(name)
        if all(value is first for value in values):  # [x] * count: one object
            prefix += f"{key}:{_dumps(first)},"
        else:
            varying.append([f"{key}:{_dumps(value)}" for value in values])
    return [prefix + ",".join(parts) + "}" for parts in zip(*varying, strict=True)]


def _check_encoded(
    logged: list[str], by_column: dict[str, list[Any]], table_columns: dict[str, Any]
) -> None:
    """The first and last row's JSON must say what this module would have logged."""
    for index in {0, len(logged) - 1}:
        expected = {
            name: _loggable(table_columns[name], [values[index]])[0]
            for name, values in by_column.items()
        }
        if json.loads(logged[index]) != json.loads(_dumps(expected)):
            raise ValueError(
                f"the encoded change-log JSON of row {index} does not match its values: "
                f"{logged[index][:300]}"
            )


def _executemany(
    session: Session,
    table: Table,
    by_column: dict[str, list[Any]],
    *,
    json_text: frozenset[str] = frozenset(),
) -> None:
    """One DBAPI executemany of INSERT INTO table, with the column types' bind processors.

    `json_text`: JSON columns whose values are already JSON text (not run through the
    type's serializer again).
    """
    connection = session.connection()
    dialect = connection.dialect
    names = [column.name for column in table.columns]
    compiled = table.insert().compile(dialect=dialect, column_keys=names)
    bound: dict[str, list[Any]] = {}
    for column in table.columns:
        values = by_column[column.name]
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is None or column.name in json_text:
            pass
        elif isinstance(column.type, JSON):
            values = [None if value is None else process(value) for value in values]
        elif isinstance(column.type, Date) and process(_PROBE) == _PROBE.isoformat():
            values = [None if value is None else value.isoformat() for value in values]
        else:
            # Timestamps and other values repeat within a batch (created_at): convert each
            # distinct value once.
            converted: dict[Any, Any] = {None: None}
            values = [
                converted[value]
                if value in converted
                else converted.setdefault(value, process(value))
                for value in values
            ]
        bound[column.name] = values
    parameters: list[Any]
    if compiled.positional:
        order = list(compiled.positiontup or ())
        parameters = list(zip(*(bound[name] for name in order), strict=True))
    else:
        parameters = [
            dict(zip(names, values, strict=True))
            for values in zip(*(bound[name] for name in names), strict=True)
        ]
    connection.exec_driver_sql(compiled.string, parameters)


_PROBE = date(2000, 1, 2)


def _json_default(value: Any) -> Any:
    """What orjson does not encode itself (Decimal, bytes, …), as to_json does."""
    return to_json(value)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


_SIMPLE = re.compile(r"^[A-Za-z0-9._:-]*$")


def _pk_json(
    names: list[str], by_column: dict[str, list[Any]], table_columns: dict[str, Any]
) -> list[str]:
    """{"id": "…"} for each row; string keys of plain characters need no encoder."""
    keys = [_loggable(table_columns[name], by_column[name]) for name in names]
    if len(names) == 1:
        (name,) = names
        (values,) = keys
        if all(isinstance(value, str) and _SIMPLE.match(value) for value in values):
            return [f'{{"{name}": "{value}"}}' for value in values]
    return [_dumps(dict(zip(names, row, strict=True))) for row in zip(*keys, strict=True)]
