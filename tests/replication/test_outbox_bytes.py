"""What a replica receives is what the primary's log holds, byte for byte.

A committing thread stages its entries for the streams from the log rows change capture
inserted (the objects the INSERT was bound to), not from a read of the log. These tests
hold the two forms equal: the bytes of every batch a replica receives against the log
rows encoded as the log gives them back, and — for any value change capture can log —
the staged form against the read-back form on both backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from replication.entries import read_range
from replication.primary.outbox import Outbox, Shipped, read_shipped
from replication.sql import reading
from tests.replication.harness import (
    SENDAI,
    Cluster,
    Site,
    add_user,
    commit,
    delete_user,
    rename_user,
)
from tests.support.factories import tenant
from yui.audit import service as audit
from yui.db.context import LogRow
from yui.db.database import Database

#: values at the edges of what JSON and the two databases keep: key order, float
#: spellings, 64-bit limits, escapes, astral and line-separator characters, NUL
EDGES: dict[str, Any] = {
    "z": 1,
    "a": [0.1, 1e16, -0.0, 5e-324, 1.7976931348623157e308, 2**63 - 1, -(2**63)],
    "text": '避難所 ✓ 𠮷 "q" \\ \n\t\u2028 \x00',
    "nested": {"empty": {}, "list": [], "none": None, "yes": True, "no": False},
}

MARKER = b',"entries":['


def logging_reads(
    site: Site, work: Callable[[Database], Any], logged: dict[int, bytes]
) -> Callable[[Database], None]:
    """``work``, then the log rows it wrote, encoded as the log gives them back — read
    at once: once the replicas hold them, the primary may truncate them."""

    def run(db: Database) -> None:
        before = site.state().head
        work(db)
        with reading(db.engine) as connection:
            for entry in read_range(connection, SENDAI, before + 1):
                logged[entry.seq] = Shipped.of(entry).json

    return run


def write_edges(db: Database) -> None:
    with db.unit_of_work(SENDAI) as uow:
        audit.record(
            uow.session, actor="test", action="test.edges", subject_type="test", detail=EDGES
        )
        uow.commit()


@pytest.mark.anyio
async def test_a_replica_receives_the_bytes_of_the_primarys_log_rows(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    a, b = cluster["site-a"], cluster["site-b"]
    await cluster.caught_up("site-b")
    bodies: list[tuple[str, str, bytes]] = []
    cluster.router.bodies = bodies
    logged: dict[int, bytes] = {}
    for work in (
        write_edges,
        add_user("sato"),
        rename_user("sato", "佐藤 𠮷"),
        delete_user("sato"),
    ):
        await commit(a, logging_reads(a, work, logged))
    await cluster.caught_up("site-b")
    cluster.router.bodies = None

    received: list[int] = []
    for host, path, body in bodies:
        if host != "site-b" or not path.endswith("/entries"):
            continue
        seqs = [entry["seq"] for entry in orjson.loads(body)["entries"]]
        if not seqs:
            continue  # a heartbeat
        raw = body[body.index(MARKER) + len(MARKER) : -2]
        assert raw == b",".join(logged[seq] for seq in seqs), f"batch {seqs} is not the log's"
        received += seqs
    assert received == sorted(logged), "every entry logged, each received once, in order"
    ops = {orjson.loads(logged[seq])["op"] for seq in received}
    assert ops == {"insert", "update", "delete"}
    assert a.digest() == b.digest()


# ----------------------------------------------------------------------------- any value

#: what change capture's `to_json` gives a JSON column: JSON's own values (finite floats:
#: PostgreSQL's json refuses NaN and infinities, so no commit holds one)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)

#: a staging engine that cannot connect: staging a commit's own entries must not read
UNREACHABLE = "sqlite:////nonexistent-yui-dir/none.db"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(detail=st.dictionaries(st.text(), JSON_VALUES, max_size=5))
def test_a_commit_stages_its_entries_as_the_log_reads_them_back(
    db: Database, detail: dict[str, Any]
) -> None:
    if SENDAI not in _tenants(db):  # one database for every example
        tenant(db)
    given_rows: list[Sequence[LogRow]] = []
    db.on_logged.append(lambda _tenant, _seq, rows: given_rows.append(rows))
    try:
        with db.unit_of_work(SENDAI) as uow:
            audit.record(
                uow.session, actor="test", action="test.any", subject_type="t", detail=detail
            )
            uow.commit()
    finally:
        db.on_logged.pop()
    (rows,) = given_rows
    first, last = rows[0]["seq"], rows[-1]["seq"]

    outbox = Outbox()
    outbox.begin_after(first - 1)
    unreachable = create_engine(UNREACHABLE)
    try:
        outbox.fill(unreachable, SENDAI, last, rows)  # raises if it reads the log
    finally:
        unreachable.dispose()
    staged = outbox.take(first, len(rows))
    assert staged is not None
    with reading(db.engine) as connection:
        read_back, complete = read_shipped(connection, SENDAI, first, len(rows))
    assert [entry.json for entry in staged[0]] == [entry.json for entry in read_back]
    assert staged[1] == complete


def _tenants(db: Database) -> list[str]:
    with reading(db.engine) as connection:
        return [row[0] for row in connection.exec_driver_sql("SELECT tenant_id FROM tenants")]


def test_a_commit_whose_hook_comes_late_stages_the_entries_before_its_own(db: Database) -> None:
    """Two commits whose hooks run out of order (the second's first): the second reads the
    first's entries from the log and stages its own rows after them; the first's hook,
    coming later, has nothing left to do."""
    tenant(db)
    given_rows: list[Sequence[LogRow]] = []
    db.on_logged.append(lambda _tenant, _seq, rows: given_rows.append(rows))
    for index in range(2):
        with db.unit_of_work(SENDAI) as uow:
            audit.record(
                uow.session, actor="t", action="test.late", subject_type="t", detail={"i": index}
            )
            uow.commit()
    early, late = given_rows
    first, last = early[0]["seq"], late[-1]["seq"]
    outbox = Outbox()
    outbox.begin_after(first - 1)
    outbox.fill(db.engine, SENDAI, last, late)
    unreachable = create_engine(UNREACHABLE)
    try:
        outbox.fill(unreachable, SENDAI, early[-1]["seq"], early)  # already staged: no read
    finally:
        unreachable.dispose()
    staged = outbox.take(first, 100)
    assert staged is not None
    with reading(db.engine) as connection:
        read_back, _complete = read_shipped(connection, SENDAI, first, last - first + 1)
    assert [entry.json for entry in staged[0]] == [entry.json for entry in read_back]
