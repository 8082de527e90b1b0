"""Small SQL helpers that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from yui.db.engine import READ_ONLY


def insert_ignore(connection: Connection, table: Table, values: dict[str, Any]) -> None:
    """INSERT unless a row with the same key (or unique value) exists."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        connection.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - the two supported backends are above
        connection.execute(table.insert().values(**values))


class BulkInsert:
    """INSERT INTO table (columns) many rows as one DBAPI executemany, each value bound
    through its column type's own processor — what SQLAlchemy's executemany does, minus
    its per-row bookkeeping (a snapshot of a million rows spends its time here).

    ``converters`` (one per column, or None) turn a value into the Python value first;
    columns in ``raw`` go to the driver as they are (already in their stored form).
    """

    def __init__(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        converters: Sequence[Callable[[Any], Any] | None] | None = None,
        *,
        raw: Collection[str] = (),
    ) -> None:
        self.connection = connection
        if converters is None:  # a replica's apply: the same few shapes, batch after batch
            plan = _cached_plan(connection.dialect, table, tuple(columns), frozenset(raw))
        else:
            plan = _InsertPlan.of(connection.dialect, table, columns, converters, raw)
        self.statement = plan.statement
        self.columns = plan.columns
        self.steps = plan.steps
        self.positional = plan.positional
        self.order = plan.order
        self.defaults = plan.defaults
        self.rows: list[Any] = []

    def add(self, row: list[Any]) -> None:
        """A row in ``columns`` order (the list is converted in place)."""
        if self.defaults:
            row.extend(default() for default in self.defaults)
        for index, step in self.steps:
            value = row[index]
            if value is not None:
                row[index] = step(value)
        if not self.positional:
            self.rows.append(dict(zip(self.columns, row, strict=True)))
        elif self.order is not None:
            self.rows.append(tuple([row[i] for i in self.order]))
        else:
            self.rows.append(tuple(row))

    def flush(self) -> int:
        count = len(self.rows)
        if count:
            self.connection.exec_driver_sql(self.statement, self.rows)
            self.rows = []
        return count


@dataclass(frozen=True)
class _InsertPlan:
    """The compiled INSERT of `BulkInsert` and how each value is bound."""

    statement: str
    columns: list[str]
    steps: list[tuple[int, Callable[[Any], Any]]]
    positional: bool
    order: list[int] | None
    #: the model's defaults of the columns the rows do not carry, in order after them
    defaults: tuple[Callable[[], Any], ...] = ()

    @classmethod
    def of(
        cls,
        dialect: Dialect,
        table: Table,
        columns: Sequence[str],
        converters: Sequence[Callable[[Any], Any] | None] | None,
        raw: Collection[str],
    ) -> _InsertPlan:
        # Rows written by an older schema (a backup, or a primary not yet upgraded) lack a
        # column added since: it gets the model's own default, as an INSERT through the ORM
        # would (SQLAlchemy adds such columns to the statement whatever the keys given).
        missing = [
            column
            for column in table.columns
            if column.key not in columns
            and column.default is not None
            and (column.default.is_scalar or column.default.is_callable)
        ]
        names = [*columns, *(column.key for column in missing)]
        defaults = tuple(_default_of(column) for column in missing)
        compiled = table.insert().compile(dialect=dialect, column_keys=names)
        steps: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(names):
            bind = (
                None
                if name in raw
                else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            )
            convert = (
                converters[index] if converters is not None and index < len(converters) else None
            )
            step = _compose(convert, bind)
            if step is not None:
                steps.append((index, step))
        order = [names.index(name) for name in (compiled.positiontup or ())]
        return cls(
            statement=compiled.string,
            columns=names,
            steps=steps,
            positional=bool(compiled.positional),
            order=None if order == list(range(len(names))) else order,
            defaults=defaults,
        )


def _default_of(column: Any) -> Callable[[], Any]:
    """The column's Python-side default as a function of nothing (a scalar, or a callable
    that takes no context: SQLAlchemy wraps those to accept one)."""
    default = column.default
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:
        function = default.arg
        return lambda: function(None)
    raise ValueError(f"{column}: a default that is not a value or a function")


@lru_cache(maxsize=512)
def _cached_plan(
    dialect: Dialect, table: Table, columns: tuple[str, ...], raw: frozenset[str]
) -> _InsertPlan:
    """A plan without converters, compiled once per dialect, table and columns (compiling
    an INSERT cost a replica ~0.3 ms a batch)."""
    return _InsertPlan.of(dialect, table, columns, None, raw)


def _compose(
    convert: Callable[[Any], Any] | None, bind: Callable[[Any], Any] | None
) -> Callable[[Any], Any] | None:
    if convert is None:
        return bind
    if bind is None:
        return convert
    return lambda value: bind(convert(value))


def executemany_insert(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (Python values in ``columns`` order) as one executemany."""
    if not rows:
        return
    insert = BulkInsert(connection, table, columns)
    for row in rows:
        insert.add(list(row))
    insert.flush()


def table_of(model: type[Any]) -> Table:
    """The Table of a mapped class (typed as such)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


@contextmanager
def consistent_read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one committed state throughout: PostgreSQL's
    REPEATABLE READ; on SQLite (WAL) any read transaction is a snapshot."""
    if engine.dialect.name == "postgresql":
        repeatable = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with repeatable as connection, connection.begin():
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield connection
        return
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection, connection.begin():
        yield connection


def reading(engine: Engine) -> Connection:
    """A connection for reads only. On SQLite every other transaction starts with BEGIN
    IMMEDIATE (the write lock); a read must not queue behind, or block, the writers."""
    return engine.connect().execution_options(**{READ_ONLY: True})
