"""Domain events: one part tells the others what happened, without importing them.

The kernel declares the events (plain frozen dataclasses, below); a part publishes
one; the composition root (`assembly`) subscribes the handlers of the parts that care.
No service imports another, and the kernel imports none of them.

A handler runs synchronously, inside the publisher's unit of work when one is given
(``session``): its writes commit or roll back with the cause, in the same tenant
transaction, and replicate with it — so a shelter check-in and the sign of life it
gives safety confirmation are acknowledged together or not at all. A handler that
raises aborts the publisher's transaction (a lost sign of life is worse than a
retried check-in). A handler with outside effects (messages, HTTP) must not act
inline: it enqueues a job (`yui.jobs`), which is fenced and idempotent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from yui.hazard_alerts import Alert

Event = TypeVar("Event")
Handler = Callable[[Any, Session | None], None]


@dataclass(frozen=True, slots=True)
class ShelterCheckedIn:
    """A registered resident checked in at a shelter: a sign of life (relief supplies)."""

    tenant: str
    resident_id: str
    shelter_id: str
    shelter_name: str
    at: datetime
    #: the resident's 町字 (`ResidentFacts.town_name`): safety confirmation counts the sign of
    #: life in that district ("" when unknown: counted where the resident's last report was)
    town_name: str = ""


@dataclass(frozen=True, slots=True)
class HazardAlertReceived:
    """A hazard alert (CAP 1.2 or JMA XML) reached this site's intake, told once per tenant
    this site is the primary of, in that tenant's unit of work (the alert intake publishes).

    The same alert reaches every site (and may reach one twice): a handler keys what it
    writes on the alert's sender and identifier, so a repeat changes nothing."""

    tenant: str
    alert: Alert
    #: the site whose intake took the alert, and when (the handlers' clock)
    site: str
    received_at: datetime


class EventBus:
    """Handlers by event type, filled by the composition root at start-up."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], list[Handler]] = defaultdict(list)

    def subscribe(
        self, event_type: type[Event], handler: Callable[[Event, Session | None], None]
    ) -> None:
        """Add a handler; the same handler twice is kept once (several sites in one process)."""
        if handler not in self._handlers[event_type]:
            self._handlers[event_type].append(handler)

    def publish(self, event: object, session: Session | None = None) -> None:
        """Run every handler of ``type(event)`` in turn, in the caller's unit of work."""
        for handler in self._handlers.get(type(event), ()):
            handler(event, session)


#: the process's bus; `assembly.site` subscribes the parts' handlers when it builds a site
BUS = EventBus()
