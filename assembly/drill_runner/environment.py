"""What the drill runner needs from the rest of the platform, as small interfaces.

- :class:`FailoverWatch`: read placements and site liveness, and ask for planned moves.
  Today it reads etcd (``assembly.drill_runner.sandbox_env.EtcdWatch``); when the failover controller
  exists, the composition root plugs a watch that also carries out switchovers and
  evacuations (:func:`assembly.drill_runner.sandbox_env.wire_watch`).
- :class:`FaultInjector`: break and mend a site (the sandbox's real signals).
- :class:`CopyReader`: what every surviving copy holds after the drill.
- :class:`ServiceWorkload`: a service's own writes as the load (safety reports, stock
  movements; assembly.drill_runner.workloads), how to read them from a copy and what
  they must be.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from assembly.drill_runner.workloads.checks import ServiceCopy
from failover.drill.checker import CopyDigest, CopyRow, CounterCopy, PlacementSeen
from failover.drill.copies import TenantReads
from failover.drill.loadgen import Attempt, Write
from failover.drill.report import Expectation

__all__ = [
    "CannotRun",
    "Copies",
    "CopyReader",
    "FailoverWatch",
    "FaultInjector",
    "NotWired",
    "PlacementSnapshot",
    "ServiceReader",
    "ServiceWorkload",
]


class CannotRun(RuntimeError):
    """The drill cannot run here; the message says why (Japanese / English)."""


class NotWired(CannotRun):
    """The step needs the failover controller, which is not plugged in yet."""


@dataclass(frozen=True)
class PlacementSnapshot:
    tenant: str
    primary: str
    epoch: int
    replicas: tuple[str, ...] = ()
    mode: str = "sync"


class FailoverWatch(Protocol):
    async def placements(self) -> Mapping[str, PlacementSnapshot]:
        """Every tenant's placement as known now (the last known while etcd is down)."""
        ...

    async def site_alive(self, site: str) -> bool | None:
        """Whether the site's liveness key exists; None when that cannot be known now."""
        ...

    async def switchover(self, tenant: str, to: str | None) -> None:
        """Move the tenant's primary (to ``to``, or the controller's choice). NotWired until
        the controller exists."""
        ...

    async def evacuate(self, site: str) -> None:
        """Move every primary off ``site``. NotWired until the controller exists."""
        ...

    def placement_history(self) -> Sequence[PlacementSeen]:
        """Every placement the watch received since it started (each revision, with the
        runner's clock when it arrived; the initial listing at the start). Empty when the
        watch cannot tell: the runner then uses what its own polls saw."""
        ...

    async def close(self) -> None: ...


class FaultInjector(Protocol):
    """Blocking calls (the runner runs them in a thread). Raise CannotRun when a fault is
    not possible here."""

    def inject(self, scenario: str, target: str, with_sites: Sequence[str] = ()) -> None:
        """Break ``target``; ``with_sites`` share its fate where the scenario says so (the
        minority partition's other side)."""
        ...

    def recover(self, scenario: str, target: str, with_sites: Sequence[str] = ()) -> None: ...

    def live_sites(self) -> list[str]:
        """The sites whose node is running now (their copies can be read)."""
        ...


@dataclass
class Copies:
    #: site → tenant → probe rows
    rows: dict[str, dict[str, list[CopyRow]]] = field(default_factory=dict)
    #: site → tenant → drill counters and their applied increments
    counters: dict[str, dict[str, CounterCopy]] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    digests: list[CopyDigest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: site → tenant → a service workload's records (and stock); empty for the probe
    services: dict[str, dict[str, ServiceCopy]] = field(default_factory=dict)
    #: site → why its copy could not be read (none of its rows, quarantine or digests are
    #: above: a copy is read whole, in one snapshot, or not at all)
    unreadable: dict[str, str] = field(default_factory=dict)


#: a service workload's reader of one copy: (its database or one snapshot of it, tenants)
#: → tenant → what it holds, for each tenant the copy holds (blocking)
ServiceReader = Callable[[TenantReads, Sequence[str]], Mapping[str, ServiceCopy]]


class CopyReader(Protocol):
    def read(
        self,
        sites: Sequence[str],
        tenants: Sequence[str],
        since: datetime,
        *,
        service: ServiceReader | None = None,
    ) -> Copies:
        """Blocking: the copies at ``sites`` of ``tenants``; quarantine entries since
        ``since``. With ``service``, a service workload's records instead of the probes."""
        ...


class ServiceWorkload(Protocol):
    """A service's own writes as the drill's load (assembly.drill_runner.workloads)."""

    name: str
    #: what the report should say of the workload (its campaign, places, the path used)
    notes: list[str]

    async def prepare(self, tenants: Sequence[str]) -> None:
        """Make what the writes need, through the API (CannotRun when it cannot)."""
        ...

    def write(self, tenant: str, write_id: uuid.UUID, n: int) -> Write:
        """Write number n (failover.drill.loadgen.WriteFactory)."""
        ...

    async def auth(self, tenant: str) -> Mapping[str, str]:
        """The headers the writes are sent with (a staff account's token)."""
        ...

    def expected(self, attempt: Attempt) -> Mapping[str, Any] | None:
        """The content the attempt's body asks for, in the terms the reader gives."""
        ...

    def read(self, db: TenantReads, tenants: Sequence[str]) -> Mapping[str, ServiceCopy]:
        """What a copy holds of this run's writes (a :data:`ServiceReader`)."""
        ...

    async def resend(self, attempts: Sequence[Attempt]) -> list[Expectation]:
        """After the load: resend some acknowledged writes as their clients would (same id,
        same body) and say whether each answered its first result (none: not checked)."""
        ...
