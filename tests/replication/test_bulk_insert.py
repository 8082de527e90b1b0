"""Rows written under an older schema still load: a column added since (absent from a
backup's snapshot, or from the entries of a primary not yet upgraded) gets the model's own
default, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select

from replication.sql import BulkInsert, executemany_insert

counter = itertools.count(100)


def _table() -> Table:
    return Table(
        "bulk_insert_probe",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(40), nullable=False),
        Column("reading", String(40), nullable=False, default=""),  # added later, NOT NULL
        Column("rank", Integer, nullable=False, default=lambda: next(counter)),
    )


def test_columns_the_rows_do_not_carry_get_the_models_defaults(database_url: str) -> None:
    engine = create_engine(database_url)
    table = _table()
    table.metadata.drop_all(engine)
    table.metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            insert = BulkInsert(connection, table, ["id", "name"], [None, str.strip])
            insert.add([1, " 佐藤 "])
            insert.add([2, "鈴木"])
            assert insert.flush() == 2
            executemany_insert(
                connection, table, ["name", "id", "reading"], [("高橋", 3, "たかはし")]
            )
        with engine.connect() as connection:
            rows = connection.execute(select(table).order_by(table.c.id)).all()
        assert [(row.id, row.name, row.reading) for row in rows] == [
            (1, "佐藤", ""),
            (2, "鈴木", ""),
            (3, "高橋", "たかはし"),
        ]
        ranks = [row.rank for row in rows]
        assert len(set(ranks)) == 3 and all(rank >= 100 for rank in ranks)  # called per row
    finally:
        table.metadata.drop_all(engine)
        engine.dispose()
