"""Reading one site's copy for the checker: its probe rows, its drill counters and its
quarantine, per tenant.

The readers take anything that opens read-only units of work (:class:`TenantReads`): a
:class:`~yui.db.database.Database` (each tenant in a transaction of its own), or one
snapshot of a copy shared by every read (``assembly.drill_runner.snapshot``), so that rows,
quarantine and digest describe one state of a copy that is still applying entries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, column, func, inspect, select, table

from failover.drill.checker import CopyRow, CounterCopy, IncrementRow
from failover.drill.models import DrillCounter, DrillCounterIncrement, DrillProbe
from yui.db.database import Database
from yui.db.engine import READ_ONLY
from yui.db.types import UTCDateTime
from yui.db.unit_of_work import UnitOfWork
from yui.tenancy.models import Tenant

__all__ = ["TenantReads", "quarantined_entries", "read_copy", "read_counters"]

QUARANTINE_TABLE = "replication_quarantine"


class TenantReads(Protocol):
    """What the readers need of a copy: read-only units of work, one tenant each."""

    def unit_of_work(
        self, tenant: str | None, *, read_only: bool = False, all_tenants: bool = False
    ) -> UnitOfWork: ...


def read_copy(db: TenantReads, tenants: Iterable[str]) -> dict[str, list[CopyRow]]:
    """tenant → probe rows, for each of ``tenants`` this database holds (its tenant row
    exists); a tenant it does not hold is left out (no copy here)."""
    copy: dict[str, list[CopyRow]] = {}
    for tenant in tenants:
        with db.unit_of_work(tenant, read_only=True) as uow:
            if uow.session.get(Tenant, tenant) is None:
                continue
            rows = uow.session.execute(
                select(DrillProbe).where(DrillProbe.deleted_at.is_(None))
            ).scalars()
            copy[tenant] = [
                CopyRow(
                    tenant=row.tenant_id,
                    id=str(row.id),
                    site=row.site,
                    epoch=row.epoch,
                    written_at=row.written_at.isoformat(),
                )
                for row in rows
            ]
    return copy


def read_counters(db: TenantReads, tenants: Iterable[str]) -> dict[str, CounterCopy]:
    """tenant → its drill counters and the increments applied, for each of ``tenants``
    this database holds (a tenant it does not hold is left out)."""
    found: dict[str, CounterCopy] = {}
    for tenant in tenants:
        with db.unit_of_work(tenant, read_only=True) as uow:
            session = uow.session
            if session.get(Tenant, tenant) is None:
                continue
            values = {c.name: c.value for c in session.execute(select(DrillCounter)).scalars()}
            increments = [
                IncrementRow(
                    counter=row.counter,
                    id=str(row.id),
                    value=row.value,
                    site=row.site,
                    epoch=row.epoch,
                )
                for row in session.execute(select(DrillCounterIncrement)).scalars()
            ]
            found[tenant] = CounterCopy(values=values, increments=tuple(increments))
    return found


def quarantined_entries(
    db: Database | Connection, tenants: Iterable[str], *, since: datetime | None = None
) -> dict[str, int]:
    """tenant → entries this site quarantined (since ``since``, when given); 0 for every
    tenant when the quarantine table does not exist (replication not installed). Read in
    ``db`` when it is a connection (a snapshot's), else in a read transaction of its own:
    never SQLite's write lock, which a busy site's writers hold and need."""
    counts = dict.fromkeys(tenants, 0)
    if not counts:
        return counts
    if isinstance(db, Connection):
        return _quarantined(db, counts, since)
    with db.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return _quarantined(connection, counts, since)


def _quarantined(
    connection: Connection, counts: dict[str, int], since: datetime | None
) -> dict[str, int]:
    if not inspect(connection).has_table(QUARANTINE_TABLE):
        return counts
    quarantine = table(
        QUARANTINE_TABLE, column("tenant_id"), column("quarantined_at", UTCDateTime())
    )
    query = (
        select(quarantine.c.tenant_id, func.count())
        .where(quarantine.c.tenant_id.in_(list(counts)))
        .group_by(quarantine.c.tenant_id)
    )
    if since is not None:
        query = query.where(quarantine.c.quarantined_at >= since)
    for tenant, count in connection.execute(query):
        counts[str(tenant)] = int(count)
    return counts
