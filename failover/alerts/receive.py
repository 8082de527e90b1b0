"""One alert received by a site, whichever way it came (`POST /alerts/v1/ingest` or
`yui alerts ingest`): the tenants this site is the primary of are told, the evacuation is
decided and requested (failover.alerts.intake), and the site keeps the alert with its
decision (failover.alerts.received) for the operators' console. Both entry points call
:func:`receive`, so the console shows every alert the site took, decided the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread

from failover.alerts.announce import Announcement, PrimaryTenants, announce
from failover.alerts.intake import IngestOutcome, ingest
from failover.alerts.received import record_received
from failover.alerts.settings import EvacuationSettings
from failover.alerts.trigger import EvacuationTrigger
from yui.db.database import Database
from yui.hazard_alerts import Alert
from yui.topology import SiteSpec

__all__ = ["Receipt", "SiteRecord", "receive"]

log = logging.getLogger("yui.alerts")


@dataclass(frozen=True)
class SiteRecord:
    """Where the site keeps what it received, and whom it tells."""

    database: Database
    site: str
    #: the tenants this site is the primary of (None: no tenant is told)
    primaries: PrimaryTenants | None = None


@dataclass(frozen=True)
class Receipt:
    outcome: IngestOutcome
    told: Announcement | None
    #: what the HTTP endpoint answers and the CLI prints with --json (also kept in the record)
    answer: dict[str, Any]
    #: what went wrong beside the decision (tenants not told, the record not kept), for the
    #: caller to say; never in the way of the evacuation
    problems: list[str] = field(default_factory=list)


async def receive(
    alert: Alert,
    sites: Iterable[SiteSpec],
    settings: EvacuationSettings,
    *,
    trigger: EvacuationTrigger | None,
    record: SiteRecord | None,
    drill: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Receipt:
    """Take ``alert`` at this site. ``now``: the time it is judged at (a replay's), else the
    moment it was received; ``record``: None where the site's database is not at hand."""
    received_at = datetime.now(UTC)
    at = now or received_at
    if at.utcoffset() is None:
        at = at.replace(tzinfo=UTC)
    problems: list[str] = []
    # The tenants first: their writes happen at this primary before any evacuation moves
    # it away (a planned move carries them along).
    told = None
    if not dry_run and record is not None and record.primaries is not None:
        primaries = record.primaries
        try:
            told = await anyio.to_thread.run_sync(
                lambda: announce(alert, record.database, primaries(), site=record.site, now=at)
            )
        except Exception as error:  # the tenants' side never keeps an alert from evacuation
            log.exception("alert %s: the tenants could not be told", alert.identifier)
            problems.append(
                f"自治体に伝えられませんでした / the tenants could not be told: {error}"
            )
    outcome = await ingest(
        alert, sites, settings, trigger=trigger, drill=drill, dry_run=dry_run, now=at
    )
    log.info(
        "alert %s (%s) → %s",
        alert.identifier,
        alert.status.value,
        outcome.decision.action,
        extra={"sites": list(outcome.decision.sites), "executed": outcome.executed is not None},
    )
    answer = outcome.to_json()
    answer["tenants"] = told.to_json() if told is not None else None
    if record is not None:
        try:  # kept for the operators' console; never in the way of the decision
            await anyio.to_thread.run_sync(
                lambda: record_received(
                    record.database,
                    alert,
                    outcome,
                    answer,
                    site=record.site,
                    received_at=received_at,
                    dry_run=dry_run,
                )
            )
        except Exception as error:
            log.exception("alert %s: the record of it could not be kept", alert.identifier)
            problems.append(
                f"受信の記録を残せませんでした / the record of it could not be kept: {error}"
            )
    return Receipt(outcome, told, answer, problems)
