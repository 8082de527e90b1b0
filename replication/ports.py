"""What replication needs from the outside, declared here and implemented elsewhere.

Replication does not import failover (DESIGN.md, "Layout"): it states the little it
needs — where a tenant's copies are, and a compare-and-swap to change the in-sync set —
and the site node wires failover's etcd coordination to it. Tests use an in-memory
implementation with the same compare-and-swap semantics (tests/replication/support).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Mode = Literal["sync", "async"]


@dataclass(frozen=True, slots=True)
class TenantPlacement:
    """Where one tenant's copies live, as the coordination service stores it.

    ``epoch`` is the revision of the placement's last write (etcd's ``mod_revision``):
    it grows with every change (a new primary, a smaller or larger in-sync set) and
    is the token a compare-and-swap expects. ``in_sync`` never names the primary.

    ``min_insync_zones``: the primary and the in-sync set together must survive the loss
    of any ``min_insync_zones - 1`` hazard zones (2: a copy outside each of the primary's
    zones; 1: only ``min_insync`` counts). ``zones``: each site's hazard zones as the
    topology states them; empty when unknown (a lone site), which leaves the zone rule
    out. See replication/primary/zones.py.
    """

    tenant: str
    primary: str
    replicas: tuple[str, ...]
    in_sync: tuple[str, ...]
    mode: Mode = "sync"
    min_insync: int = 1
    epoch: int = 0
    min_insync_zones: int = 2
    zones: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IsrChange:
    """The answer to an in-sync-set compare-and-swap.

    ``ok`` is True when this call's write took effect. Otherwise the placement had
    moved on (another write came first): ``placement`` is the current one, or None when
    it could not be read; the caller re-reads and decides again.
    """

    ok: bool
    placement: TenantPlacement | None


class Placements(Protocol):
    """The coordination service, as replication sees it."""

    def placement(self, tenant: str) -> TenantPlacement | None:
        """The tenant's placement as this site last heard it; never blocks, never raises
        (while the coordination service is unreachable it answers from memory)."""

    def placements(self) -> Mapping[str, TenantPlacement]:
        """Every placement this site knows."""

    async def shrink_isr(
        self, tenant: str, remove: Collection[str], expected_epoch: int
    ) -> IsrChange:
        """Remove ``remove`` from the in-sync set if the placement is still at
        ``expected_epoch``; atomic. The returned placement carries the new epoch.
        Raises ``yui.errors.Unavailable`` when the service cannot be reached (then the
        write may or may not have happened: re-read)."""

    async def expand_isr(self, tenant: str, add: Collection[str], expected_epoch: int) -> IsrChange:
        """Add ``add`` (replicas of the placement) to the in-sync set, same rules."""


class Peers(Protocol):
    """Where the other sites answer (their base URL), by site name."""

    def url(self, site: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class StaticPeers:
    """Peers from a fixed mapping (the topology file's ``url`` of each site)."""

    urls: Mapping[str, str]

    def url(self, site: str) -> str | None:
        return self.urls.get(site)
