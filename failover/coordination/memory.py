"""Coordination kept in this process's memory: the controller's unit tests run against it
(no etcd processes, so they take milliseconds), and it is the reference for what the
interface promises (failover.coordination.interface).

One :class:`MemoryCoordination` is the whole "etcd cluster": every handle it makes
(registrations, candidates, views) shares its state, changes are seen by every view at
once and in revision order, and every write is a compare-and-swap with the same rules as
the etcd backend (one revision per write, one per batch; a controller's writes fenced by
its term). What etcd does by time, tests do by hand: :meth:`MemoryCoordination.expire`
ends a site's lease, :meth:`MemoryCoordination.expire_controller` the controller's, and
:meth:`MemoryCoordination.stop` / :meth:`MemoryCoordination.start` make it unreachable
and back (an outage: the views keep answering from memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from failover.coordination.held_view import HeldView
from failover.coordination.interface import (
    ClusterEvent,
    ClusterView,
    Coordination,
    CoordinationUnavailable,
    Leadership,
    LeadershipLost,
    PlacementConflict,
    SiteRecord,
    SiteRegistration,
    check_name,
)
from failover.placement.policy import Placement

__all__ = ["MemoryCoordination"]


class MemoryCoordination(Coordination):
    def __init__(self) -> None:
        self.revision = 0
        self.reachable = True
        self._placements: dict[str, Placement] = {}
        self._sites: dict[str, _MemoryRegistration] = {}
        self._notes: dict[str, list[tuple[int, bytes]]] = {}
        #: the controller key: its holder and the revision that created it (the term)
        self._controller: tuple[_MemoryLeadership, int] | None = None
        self._candidates: list[_MemoryLeadership] = []
        self._views: list[_MemoryView] = []
        self._leases = itertools.count(1)

    # ---------------------------------------------------------------- faults

    def stop(self) -> None:
        """etcd is unreachable: every call raises, views serve what they had."""
        self.reachable = False
        for view in self._views:
            view.lose_contact()

    def start(self) -> None:
        self.reachable = True
        for view in self._views:
            view.regain_contact(self._placements, self._site_records(), self.controller_key)
        self._elect()

    def expire(self, site: str) -> None:
        """The site's lease ran out: its key is gone (it is still registered, not renewed)."""
        registration = self._sites.pop(site, None)
        if registration is not None:
            registration.registered_now = False
            self._change(ClusterEvent("delete", "site", site, self._next()))

    def expire_controller(self) -> None:
        """The controller's lease ran out: the next candidate in line is elected."""
        if self._controller is not None:
            self._controller[0].lose()

    # ---------------------------------------------------------------- sites

    async def register_site(self, record: SiteRecord) -> SiteRegistration:
        self._check()
        registration = _MemoryRegistration(self, record, next(self._leases))
        self._put_site(registration)
        return registration

    async def list_sites(self) -> dict[str, SiteRecord]:
        self._check()
        return self._site_records()

    def _site_records(self) -> dict[str, SiteRecord]:
        return {name: r.record for name, r in self._sites.items()}

    def _put_site(self, registration: _MemoryRegistration) -> None:
        self._check()
        name = registration.record.name
        self._sites[name] = registration
        registration.registered_now = True
        event = ClusterEvent("put", "site", name, self._next(), site=registration.record)
        self._change(event)

    # ---------------------------------------------------------------- placements

    async def get_placement(self, tenant: str) -> tuple[Placement | None, int]:
        self._check()
        placement = self._placements.get(check_name("tenant", tenant))
        return placement, 0 if placement is None else placement.epoch

    async def list_placements(self) -> tuple[dict[str, Placement], int]:
        self._check()
        return dict(self._placements), self.revision

    async def put_placement_if(
        self,
        tenant: str,
        placement: Placement,
        expected_revision: int,
        *,
        leader: Leadership | None = None,
        note: bytes | None = None,
    ) -> int:
        if placement.tenant != tenant:
            raise ValueError(f"placement is for tenant {placement.tenant!r}, not {tenant!r}")
        written = await self._write([(placement, expected_revision)], leader, note)
        result = written[tenant]
        if isinstance(result, PlacementConflict):
            raise result
        return result

    async def put_placements_if(
        self, changes: Sequence[tuple[Placement, int]], *, leader: Leadership | None = None
    ) -> dict[str, int | PlacementConflict]:
        tenants = [placement.tenant for placement, _ in changes]
        if len(set(tenants)) != len(tenants):
            raise ValueError("each tenant may appear once in a batch of placements")
        return await self._write(changes, leader, None)

    async def _write(
        self,
        changes: Sequence[tuple[Placement, int]],
        leader: Leadership | None,
        note: bytes | None,
    ) -> dict[str, int | PlacementConflict]:
        """Every placement whose key is at its expected revision, written at one new
        revision (as one etcd transaction)."""
        self._check()
        if leader is not None:
            holder = self._controller
            if leader.term == 0 or holder is None or holder[1] != leader.term:
                raise LeadershipLost(leader.node_id, leader.term)
        results: dict[str, int | PlacementConflict] = {}
        winners: list[Placement] = []
        for placement, expected in changes:
            current = self._placements.get(check_name("tenant", placement.tenant))
            revision = 0 if current is None else current.epoch
            if revision != expected:
                results[placement.tenant] = PlacementConflict(placement.tenant, expected, revision)
            else:
                winners.append(placement)
        if not winners:
            return results
        revision = self._next()
        for placement in winners:
            written = replace(placement, epoch=revision)
            self._placements[placement.tenant] = written
            if note is not None:
                self._notes.setdefault(placement.tenant, []).append((revision, note))
            results[placement.tenant] = revision
            self._change(
                ClusterEvent("put", "placement", placement.tenant, revision, placement=written)
            )
        return results

    async def operator_log(self, tenant: str) -> list[tuple[int, bytes]]:
        self._check()
        return list(self._notes.get(tenant, []))

    # ---------------------------------------------------------------- the controller

    async def current_controller(self) -> tuple[str, int] | None:
        self._check()
        return self.controller_key

    @property
    def controller_key(self) -> tuple[str, int] | None:
        return (
            None if self._controller is None else (self._controller[0].node_id, self._controller[1])
        )

    async def end_controller_term(self, term: int) -> bool:
        self._check()
        if self._controller is None or self._controller[1] != term:
            return False
        self._controller[0].lose()
        return True

    def campaign(self, node_id: str) -> Leadership:
        candidate = _MemoryLeadership(self, node_id)
        self._candidates.append(candidate)
        self._elect()
        return candidate

    def _elect(self) -> None:
        """The leader key is created by the first candidate in line, when it is absent."""
        if self._controller is not None or not self._candidates or not self.reachable:
            return
        candidate = self._candidates.pop(0)
        term = self._next()
        self._controller = (candidate, term)
        candidate.win(term)
        self._change(ClusterEvent("put", "controller", candidate.node_id, term))

    def _vacate(self, candidate: _MemoryLeadership, *, again: bool) -> None:
        if self._controller is not None and self._controller[0] is candidate:
            self._controller = None
            self._change(ClusterEvent("delete", "controller", candidate.node_id, self._next()))
        if candidate in self._candidates:
            self._candidates.remove(candidate)
        if again:  # a candidate that lost its term runs again, at the back of the line
            self._candidates.append(candidate)
        self._elect()

    # ---------------------------------------------------------------- views

    def cluster_view(self) -> ClusterView:
        view = _MemoryView(self)
        self._views.append(view)
        return view

    async def close(self) -> None:
        for view in list(self._views):
            await view.close()
        for candidate in list(self._candidates):
            await candidate.resign()
        if self._controller is not None:
            await self._controller[0].resign()

    # ---------------------------------------------------------------- machinery

    def _check(self) -> None:
        if not self.reachable:
            raise CoordinationUnavailable(
                "調整サービス（メモリ）が停止中です / the in-memory coordination is stopped"
            )

    def _next(self) -> int:
        self.revision += 1
        return self.revision

    def _change(self, event: ClusterEvent) -> None:
        for view in list(self._views):
            view.apply(event)


class _MemoryRegistration(SiteRegistration):
    def __init__(self, owner: MemoryCoordination, record: SiteRecord, lease_id: int) -> None:
        self._owner = owner
        self._record = record
        self._lease_id = lease_id
        self.registered_now = False

    @property
    def record(self) -> SiteRecord:
        return self._record

    @property
    def registered(self) -> bool:
        return self.registered_now

    @property
    def lease_id(self) -> int:
        return self._lease_id

    async def update(self, record: SiteRecord) -> None:
        if record.name != self._record.name:
            raise ValueError("a registration keeps its site's name")
        self._record = record
        self._owner._put_site(self)

    async def close(self, *, revoke: bool = True) -> None:
        """Stop; the key goes at once either way (no lease runs out here by itself)."""
        if self._owner._sites.get(self._record.name) is self:
            self._owner.expire(self._record.name)


class _MemoryLeadership(Leadership):
    def __init__(self, owner: MemoryCoordination, node_id: str) -> None:
        self._owner = owner
        self._node_id = node_id
        self._term = 0
        self._elected = asyncio.Event()
        self._lost = asyncio.Event()
        self._lost.set()
        self._callbacks: list[Callable[[int], object]] = []
        self._resigned = False

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def is_leader(self) -> bool:
        holder = self._owner._controller
        return holder is not None and holder[0] is self

    @property
    def term(self) -> int:
        return self._term if self.is_leader else 0

    def win(self, term: int) -> None:
        self._term = term
        self._lost.clear()
        self._elected.set()

    def lose(self) -> None:
        term, self._term = self._term, 0
        self._elected.clear()
        self._lost.set()
        self._owner._vacate(self, again=not self._resigned)
        for callback in list(self._callbacks):
            callback(term)

    async def wait_elected(self) -> None:
        await self._elected.wait()

    async def wait_lost(self) -> None:
        await self._lost.wait()

    def on_lost(self, callback: Callable[[int], object]) -> None:
        self._callbacks.append(callback)

    async def resign(self) -> None:
        self._resigned = True
        if self.is_leader:
            self.lose()
        else:
            self._owner._vacate(self, again=False)


class _MemoryView(HeldView):
    def __init__(self, owner: MemoryCoordination) -> None:
        super().__init__()
        self._owner = owner
        self._started = False
        self._created = time.monotonic()

    @property
    def loaded(self) -> bool:
        return self.last_contact is not None

    async def start(self) -> bool:
        self._started = True
        if self._owner.reachable:
            owner = self._owner
            self.regain_contact(owner._placements, owner._site_records(), owner.controller_key)
        return self.loaded

    async def close(self) -> None:
        self._started = False
        self._connected = False
        with contextlib.suppress(ValueError):
            self._owner._views.remove(self)

    # what the coordination tells its views

    def apply(self, event: ClusterEvent) -> None:
        if not self._connected:
            return
        if event.scope == "placement":
            if event.placement is not None:
                self._placements[event.name] = event.placement
            else:
                self._placements.pop(event.name, None)
        elif event.scope == "site":
            if event.kind == "put" and event.site is not None:
                self._sites[event.name] = event.site
            else:
                self._sites.pop(event.name, None)
        else:
            self._controller = (event.name, event.revision) if event.kind == "put" else None
        self._revision = event.revision
        self.last_contact = time.monotonic()
        for listener in list(self._listeners):
            listener(event)
        self._signal()

    def lose_contact(self) -> None:
        if self._connected:
            self._connected = False
            self._signal()

    def regain_contact(
        self,
        placements: Mapping[str, Placement],
        sites: Mapping[str, SiteRecord],
        controller: tuple[str, int] | None,
    ) -> None:
        """A (re)listing: the view's state is the store's, and the silence before it ends."""
        if not self._started:
            return
        now = time.monotonic()
        heard = self._created if self.last_contact is None else self.last_contact
        self.silence_before = now - heard
        self.connected_since = now
        self.last_contact = now
        self._placements = dict(placements)
        self._sites = dict(sites)
        self._controller = controller
        self._revision = self._owner.revision
        self._connected = True
        self._signal()
