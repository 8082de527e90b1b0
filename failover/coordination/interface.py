"""The coordination interface: the only face of etcd the rest of Yui sees.

Sites, the failover controller and the gateways use these types; only
``failover.coordination.etcd`` knows that etcd is underneath
(docs/coordination.md).

- A site calls :meth:`Coordination.register_site` and holds the returned
  :class:`SiteRegistration`: a lease with ``/yui/sites/<site>`` under it.
- Everyone reads placements from a :class:`ClusterView` (a local copy fed by a
  watch), which keeps answering from memory while etcd is unreachable.
- Placements change only by compare-and-swap
  (:meth:`Coordination.put_placement_if`, or many at once with
  :meth:`Coordination.put_placements_if`); the revision of the write is the
  placement's epoch, the fencing token.
- The failover controller runs for leadership with
  :meth:`Coordination.campaign`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self

from failover.placement.policy import Placement, SiteInfo
from yui.errors import Conflict, Unavailable
from yui.topology import SiteSpec

__all__ = [
    "ClusterEvent",
    "ClusterView",
    "Coordination",
    "CoordinationUnavailable",
    "Leadership",
    "LeadershipLost",
    "PlacementConflict",
    "SiteRecord",
    "SiteRegistration",
    "check_name",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(kind: str, name: str) -> str:
    """A site or tenant name safe to use as the last segment of an etcd key."""
    if not _NAME.match(name):
        raise ValueError(
            f"{kind} 名 {name!r} は使えません（英数字と . _ - のみ） / "
            f"invalid {kind} name {name!r}: letters, digits, '.', '_' and '-' only"
        )
    return name


# --------------------------------------------------------------------------- errors


class PlacementConflict(Conflict):
    """The placement changed since it was read: re-read it and decide again."""

    slug = "placement-conflict"
    title = "配置が更新されています / Placement changed meanwhile"

    def __init__(self, tenant: str, expected_revision: int, current_revision: int) -> None:
        super().__init__(
            f"テナント {tenant} の配置は revision {expected_revision} ではなく "
            f"{current_revision} です / placement of tenant {tenant} is at revision "
            f"{current_revision}, not {expected_revision}",
            tenant=tenant,
            expected_revision=expected_revision,
            current_revision=current_revision,
        )
        self.tenant = tenant
        self.expected_revision = expected_revision
        self.current_revision = current_revision


class LeadershipLost(Conflict):
    """A write fenced by a controller term failed: that term is over."""

    slug = "leadership-lost"
    title = "制御役ではなくなりました / No longer the failover controller"

    def __init__(self, node_id: str, term: int) -> None:
        super().__init__(
            f"{node_id} は term {term} の制御役ではありません / "
            f"{node_id} no longer holds the controller key of term {term}",
            node_id=node_id,
            term=term,
        )
        self.node_id = node_id
        self.term = term


class CoordinationUnavailable(Unavailable):
    """etcd could not be reached within the retry budget (no quorum, partition, down).

    Readers never see it: a :class:`ClusterView` answers from memory. Writers
    (a placement CAS, a failover) must stop and try again later.
    """

    slug = "coordination-unavailable"
    title = "調整サービス（etcd）に接続できません / Coordination service (etcd) unreachable"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SiteRecord:
    """What a live site publishes under ``/yui/sites/<name>`` (JSON)."""

    name: str
    provider: str
    region: str
    hazard_zones: tuple[str, ...]
    urls: tuple[str, ...]
    capacity: int = 1

    def __post_init__(self) -> None:
        check_name("site", self.name)
        if not self.hazard_zones:
            raise ValueError(
                f"サイト {self.name} にハザードゾーンがありません / site {self.name} has no hazard zone"
            )
        if self.capacity < 1:
            raise ValueError(f"site {self.name}: capacity must be at least 1")

    @classmethod
    def from_spec(cls, spec: SiteSpec, *, urls: tuple[str, ...] | None = None) -> SiteRecord:
        """From the topology file's entry (``urls`` defaults to its one URL)."""
        return cls(
            name=spec.name,
            provider=spec.provider,
            region=spec.region,
            hazard_zones=tuple(spec.hazard_zones),
            urls=urls if urls is not None else (spec.url,),
            capacity=spec.capacity,
        )

    def to_site_info(self, *, available: bool = True) -> SiteInfo:
        """The placement policy's view of this site."""
        return SiteInfo(
            name=self.name,
            provider=self.provider,
            region=self.region,
            hazard_zones=frozenset(self.hazard_zones),
            capacity=self.capacity,
            available=available,
        )


@dataclass(frozen=True)
class ClusterEvent:
    """One change seen by a :class:`ClusterView`, in revision order.

    ``resync`` marks an event synthesised after the watch history was
    compacted: the view re-listed etcd and reports the difference instead.
    """

    kind: Literal["put", "delete"]
    scope: Literal["site", "placement", "controller"]
    name: str
    revision: int
    placement: Placement | None = None
    site: SiteRecord | None = None
    resync: bool = field(default=False, compare=False)


ClusterListener = Callable[[ClusterEvent], None]


# --------------------------------------------------------------------------- handles


class SiteRegistration(ABC):
    """A site's liveness: a lease kept alive with ``/yui/sites/<site>`` under it.

    ``registered`` turns False once the lease could not be renewed in time
    (measured locally, from when the last renewal was *sent*, minus a margin):
    the site's key may be gone, the controller may be failing its tenants
    over, and a primary should stop accepting writes (self-fencing). The
    registration keeps trying and comes back by itself (a new lease).
    """

    @property
    @abstractmethod
    def record(self) -> SiteRecord: ...

    @property
    @abstractmethod
    def registered(self) -> bool: ...

    @property
    @abstractmethod
    def lease_id(self) -> int: ...

    @abstractmethod
    async def update(self, record: SiteRecord) -> None:
        """Publish a changed record (same site name) under the same lease."""

    @abstractmethod
    async def close(self, *, revoke: bool = True) -> None:
        """Stop renewing; with ``revoke`` remove the key at once (a clean shutdown)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Leadership(ABC):
    """A candidate in the controller election (Patroni-style leader key).

    The candidate keeps running: it becomes leader when the key
    ``/yui/controller`` is absent (created under its lease), and stays leader
    while it renews the lease in time. ``term`` is the revision that created
    the key: a fencing token for the controller's own writes
    (``put_placement_if(..., leader=...)``). After a loss the candidate runs
    again, and a new win has a new, higher term.
    """

    @property
    @abstractmethod
    def node_id(self) -> str: ...

    @property
    @abstractmethod
    def is_leader(self) -> bool: ...

    @property
    @abstractmethod
    def term(self) -> int:
        """The leader key's create revision while leader, else 0."""

    @abstractmethod
    async def wait_elected(self) -> None:
        """Wait until leader (bound it with ``asyncio.timeout``)."""

    @abstractmethod
    async def wait_lost(self) -> None:
        """Wait until the current term ends (returns at once when not leader)."""

    @abstractmethod
    def on_lost(self, callback: Callable[[int], object]) -> None:
        """Call ``callback(term)`` whenever a term ends (loss, expiry or resign)."""

    @abstractmethod
    async def resign(self) -> None:
        """Stop campaigning; if leader, delete the key so another takes over at once."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.resign()


class ClusterView(ABC):
    """A local copy of every placement and live site, fed by one etcd watch.

    Reads never raise and never wait: while etcd is unreachable they answer
    with the last known state (static stability). The watch resumes from the
    last revision seen, so no change is missed or applied twice; if that
    revision was compacted meanwhile, the view re-lists and reports the
    difference (events with ``resync=True``).
    """

    #: monotonic time etcd last answered this view (None: never)
    last_contact: float | None = None
    #: monotonic time the current connection to etcd began (None: never connected)
    connected_since: float | None = None
    #: how long etcd had not answered when the current connection began (for the first,
    #: since the view started): a long one was an etcd outage, during which live sites
    #: may have lost their leases (failover.controller.loop)
    silence_before: float = 0.0

    @abstractmethod
    def placement(self, tenant: str) -> Placement | None: ...

    @abstractmethod
    def placements(self) -> Mapping[str, Placement]: ...

    @abstractmethod
    def site(self, name: str) -> SiteRecord | None: ...

    @abstractmethod
    def sites(self) -> Mapping[str, SiteRecord]: ...

    @property
    @abstractmethod
    def controller(self) -> tuple[str, int] | None:
        """(node id, term) of the current controller, if any."""

    @property
    @abstractmethod
    def revision(self) -> int:
        """The etcd revision the view has caught up with."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while the watch is established and the last probe answered."""

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """True once the view has listed etcd at least once."""

    @abstractmethod
    def subscribe(self, listener: ClusterListener) -> Callable[[], None]:
        """Call ``listener`` for each change, in order; returns an unsubscribe function.

        Listeners run in the view's task and must not block.
        """

    @abstractmethod
    async def wait_for_revision(self, revision: int) -> None:
        """Wait until the view has applied the write of ``revision`` (a write under
        the prefix, e.g. a placement's epoch). Bound it with ``asyncio.timeout``."""

    @abstractmethod
    async def wait_until(self, predicate: Callable[[ClusterView], bool]) -> None:
        """Wait until ``predicate(view)`` holds (checked after every change)."""

    @abstractmethod
    async def start(self) -> bool:
        """Start watching; wait for the first listing for one retry budget.

        Returns whether the view is loaded. It keeps trying in the background
        either way, so a site can start while etcd is down.
        """

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# --------------------------------------------------------------------------- the service


class Coordination(ABC):
    """Sites, placements and the controller election, kept in etcd.

    Keys (``/yui`` is the configurable prefix)::

        /yui/sites/<site>          SiteRecord JSON, under the site's lease
        /yui/placements/<tenant>   Placement JSON (without epoch), no lease
        /yui/controller            node id of the controller, under its lease
        /yui/operator-log/<tenant>/<revision>
                                   an operator's forced change (JSON), written with it
    """

    @abstractmethod
    async def register_site(self, record: SiteRecord) -> SiteRegistration:
        """Grant a lease, put the site's key under it, keep the lease alive.

        Raises :class:`CoordinationUnavailable` when the first registration
        cannot be made within the retry budget.
        """

    @abstractmethod
    async def list_sites(self) -> dict[str, SiteRecord]:
        """The live sites (their keys exist), read from etcd."""

    @abstractmethod
    async def get_placement(self, tenant: str) -> tuple[Placement | None, int]:
        """The tenant's placement and its revision (0 when absent), read from etcd.

        The placement's ``epoch`` is that revision.
        """

    @abstractmethod
    async def list_placements(self) -> tuple[dict[str, Placement], int]:
        """Every placement and the store revision they were read at."""

    @abstractmethod
    async def put_placement_if(
        self,
        tenant: str,
        placement: Placement,
        expected_revision: int,
        *,
        leader: Leadership | None = None,
        note: bytes | None = None,
    ) -> int:
        """Write ``placement`` only if its key is still at ``expected_revision``.

        ``note``: an operator-log record (JSON) stored in the same transaction, so the
        change and its record exist together or not at all (:meth:`operator_log`).

        ``expected_revision`` 0 means "only if absent". Returns the revision of
        the write: the placement's new epoch. Raises :class:`PlacementConflict`
        when another write came first. With ``leader``, the write also requires
        that this candidate still holds the controller key of its term, else
        :class:`LeadershipLost`. Raises :class:`CoordinationUnavailable` when
        etcd cannot be reached (then the write may or may not have happened:
        re-read before trying again).
        """

    @abstractmethod
    async def operator_log(self, tenant: str) -> list[tuple[int, bytes]]:
        """The operator-log records of ``tenant`` (revision, JSON), oldest first."""

    async def put_placements_if(
        self, changes: Sequence[tuple[Placement, int]], *, leader: Leadership | None = None
    ) -> dict[str, int | PlacementConflict]:
        """Many compare-and-swaps at once: each ``(placement, expected_revision)`` is
        written only if its key is still at its own revision, as with
        :meth:`put_placement_if`; with ``leader``, only while that candidate holds the
        controller key of its term (else :class:`LeadershipLost`, for the whole call).

        Per tenant: the new epoch, or the :class:`PlacementConflict` it lost. A backend
        may write them in fewer round trips (the etcd one: one transaction per chunk);
        this default writes them one by one. Raises :class:`CoordinationUnavailable`
        when etcd cannot be reached (the writes not answered may or may not have
        happened: re-read before trying again)."""
        results: dict[str, int | PlacementConflict] = {}
        for placement, expected_revision in changes:
            try:
                results[placement.tenant] = await self.put_placement_if(
                    placement.tenant, placement, expected_revision, leader=leader
                )
            except PlacementConflict as conflict:
                results[placement.tenant] = conflict
        return results

    @abstractmethod
    async def current_controller(self) -> tuple[str, int] | None:
        """(node id, term) of the current controller, read from etcd."""

    @abstractmethod
    async def end_controller_term(self, term: int) -> bool:
        """Delete the leader key if it is still the one of ``term`` (its create revision),
        so that the candidates elect another controller now instead of after its lease:
        for a controller whose site is gone (its /healthz refused, not merely slow). The
        old holder's fenced writes fail from then on, and it steps down at its next
        renewal if it is alive after all. False when the term had already ended."""

    @abstractmethod
    def campaign(self, node_id: str) -> Leadership:
        """Start running for controller; the returned handle campaigns until resigned."""

    @abstractmethod
    def cluster_view(self) -> ClusterView:
        """A new, not yet started, watch-fed local view of sites and placements."""

    @abstractmethod
    async def close(self) -> None:
        """Close every handle made by this object and the connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
