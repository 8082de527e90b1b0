"""The alert intake's second consumer: tell each tenant this site is the primary of that an
alert arrived (the kernel's `HazardAlertReceived` event), in that tenant's unit of work.

One intake, two consumers: the evacuation decision (`failover.alerts.intake`) and whatever
the composition root subscribed to the event (safety confirmation opens its campaigns).
A tenant's rows are written at its primary only, so each site tells the tenants it is the
primary of; the same alert reaching every site is how every tenant hears it. A tenant
whose primary moved meanwhile is refused by the write gate and left to its new primary's
intake (which got the same alert); one tenant's failure never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from yui.db.database import Database
from yui.errors import YuiError
from yui.events import BUS, EventBus, HazardAlertReceived
from yui.hazard_alerts import Alert

__all__ = ["Announcement", "PrimaryTenants", "announce"]

log = logging.getLogger("yui.alerts")

#: the tenants this site is the primary of now (the composition root knows how to ask)
PrimaryTenants = Callable[[], Collection[str]]


@dataclass(frozen=True)
class Announcement:
    #: the tenants whose handlers ran and committed
    told: tuple[str, ...] = ()
    #: the tenants not told here, with the reason (primary elsewhere now, or an error)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"told": list(self.told), "skipped": dict(self.skipped)}


def announce(
    alert: Alert,
    db: Database,
    tenants: Collection[str],
    *,
    site: str,
    now: datetime,
    bus: EventBus = BUS,
) -> Announcement:
    """Publish the alert to each tenant in its own unit of work, committed per tenant."""
    told: list[str] = []
    skipped: dict[str, str] = {}
    for tenant in sorted(tenants):
        event = HazardAlertReceived(tenant=tenant, alert=alert, site=site, received_at=now)
        try:
            with db.unit_of_work(tenant) as uow:
                bus.publish(event, uow.session)
                uow.commit()
        except YuiError as refused:  # not the primary any more, paused: its new primary acts
            skipped[tenant] = refused.detail
            log.info("alert %s: tenant %s not told here: %s", alert.identifier, tenant, refused)
        except Exception as error:  # one tenant's failure never keeps the alert from the rest
            skipped[tenant] = f"{type(error).__name__}: {error}"
            log.exception("alert %s: tenant %s: a handler failed", alert.identifier, tenant)
        else:
            told.append(tenant)
    return Announcement(tuple(told), skipped)
