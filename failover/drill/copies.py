"""Reading one site's copy for the checker: its probe rows, its drill counters and its
quarantine, per tenant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import column, func, inspect, select, table

from failover.drill.checker import CopyRow, CounterCopy, IncrementRow
from failover.drill.models import DrillCounter, DrillCounterIncrement, DrillProbe
from yui.db.database import Database
from yui.db.types import UTCDateTime
from yui.tenancy.models import Tenant

__all__ = ["quarantined_entries", "read_copy", "read_counters"]

QUARANTINE_TABLE = "replication_quarantine"


def read_copy(db: Database, tenants: Iterable[str]) -> dict[str, list[CopyRow]]:
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


def read_counters(db: Database, tenants: Iterable[str]) -> dict[str, CounterCopy]:
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
    db: Database, tenants: Iterable[str], *, since: datetime | None = None
) -> dict[str, int]:
    """tenant → entries this site quarantined (since ``since``, when given); 0 for every
    tenant when the quarantine table does not exist (replication not installed)."""
    counts = dict.fromkeys(tenants, 0)
    if not counts or not inspect(db.engine).has_table(QUARANTINE_TABLE):
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
    with db.engine.connect() as connection:
        for tenant, count in connection.execute(query):
            counts[str(tenant)] = int(count)
    return counts
