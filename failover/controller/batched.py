"""Switchovers of many tenants at once (an evacuation, a failback): the steps of
:func:`failover.controller.moves.switchover` — pause, seal, compare-and-swap, promote —
each taken for a whole batch in one request per site (replication's ``/batch/...``
endpoints) and one etcd transaction per chunk (``Coordination.put_placements_if``).

One request per tenant and step made an evacuation of 1,000 tenants take minutes
(docs/benchmarks.md); the checks stay per tenant: each tenant is paused, sealed at its
own epoch, swapped with its own revision compare and promoted at its own epoch, and a
tenant that fails a step is released (before its seal) or reinstated at its old
primary (after it), exactly as a single switchover would be.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from failover.controller.engine import (
    CATCH_UP_SECONDS,
    PAUSE_TTL_SECONDS,
    MoveResult,
    Progress,
    reinstate,
    switched_placement,
)
from failover.controller.ports import MoveCopies
from failover.coordination.interface import Coordination, PlacementConflict
from failover.placement.policy import Placement
from replication.protocol.wire import PauseOut, SealOut

log = logging.getLogger("yui.failover")

#: tenants per batch: one request per site and step, one etcd transaction
BATCH_TENANTS = 100
#: how long one batched seal or promotion may take (a whole batch at one site)
BATCH_STEP_SECONDS = 15.0

T = TypeVar("T")


@dataclass
class _Move:
    """One tenant's switchover within a batch; ``result`` is set once it is decided."""

    tenant: str
    placement: Placement
    target: str
    paused: PauseOut | None = None
    sealed: SealOut | None = None
    head: int | None = None
    result: MoveResult | None = None

    @property
    def source(self) -> str:
        return self.placement.primary

    @property
    def revision(self) -> int:
        return self.placement.epoch


async def switch_many(
    coordination: Coordination,
    copies: MoveCopies,
    moves: Sequence[tuple[str, str | None, str]],
    *,
    concurrency: int,
    progress: Progress | None = None,
) -> list[MoveResult]:
    """Carry out ``(tenant, target, source)`` switchovers in batches (``concurrency``
    tenants in flight). A tenant no longer at ``source`` is skipped (ok), one whose
    target is missing or not in sync is refused, as :func:`switchover` would."""
    placements, _ = await coordination.list_placements()
    results: dict[str, MoveResult] = {}
    ready: list[_Move] = []
    for tenant, target, source in moves:
        decided = _before_start(placements.get(tenant), tenant, target, source)
        if isinstance(decided, MoveResult):
            results[tenant] = decided
            if progress is not None:
                progress(decided)
        else:
            ready.append(decided)
    size = max(1, min(concurrency, BATCH_TENANTS))
    gate = asyncio.Semaphore(max(1, concurrency // size))

    async def batch(chunk: list[_Move]) -> None:
        async with gate:
            for move in await _switch_batch(coordination, copies, chunk):
                results[move.tenant] = move
                if progress is not None:
                    progress(move)

    await asyncio.gather(*(batch(ready[i : i + size]) for i in range(0, len(ready), size)))
    return [results[tenant] for tenant, _, _ in moves]


def _before_start(
    placement: Placement | None, tenant: str, target: str | None, source: str
) -> _Move | MoveResult:
    """What :func:`switchover` decides before it pauses anything."""
    if placement is None:
        return MoveResult(
            tenant,
            source,
            target,
            False,
            reason=f"テナント {tenant} の配置はありません / no placement for {tenant}",
        )
    if placement.primary != source:
        return MoveResult(tenant, source, placement.primary, True, reason="already moved")
    if target is None:
        return MoveResult(
            tenant,
            source,
            None,
            False,
            reason="同期レプリカが他のサイトにありません / no in-sync replica at another site",
        )
    if target == source:
        return MoveResult(tenant, source, target, True, reason="already the primary")
    if target not in placement.in_sync:
        return MoveResult(
            tenant,
            source,
            target,
            False,
            reason=f"{target} はテナント {tenant} の同期レプリカではありません / {target} is not an "
            f"in-sync replica of {tenant} (in sync: {', '.join(placement.in_sync) or 'none'})",
        )
    return _Move(tenant, placement, target)


# --------------------------------------------------------------------------- one batch


async def _switch_batch(
    coordination: Coordination, copies: MoveCopies, moves: list[_Move]
) -> list[MoveResult]:
    started = time.monotonic()
    live = await _pause(coordination, copies, moves, started)
    heads = asyncio.create_task(_heads(copies, live))  # a write that slipped past the pause
    live = await _seal(coordination, copies, live, started)
    head_of = await heads
    for move in live:
        move.head = head_of.get(move.tenant)
    epochs = await _swap(coordination, copies, live, started)
    await _promote(copies, [m for m in live if m.result is None], epochs, started)
    done = [m.result for m in moves if m.result is not None]
    log.info(
        "switched %d of %d tenants in %.2f s",
        sum(r.ok for r in done),
        len(moves),
        time.monotonic() - started,
    )
    return done


def _fail(move: _Move, started: float, reason: str, epoch: int | None = None) -> None:
    log.warning("switchover %s %s -> %s failed: %s", move.tenant, move.source, move.target, reason)
    move.result = MoveResult(
        move.tenant,
        move.source,
        move.target,
        False,
        epoch,
        None,
        time.monotonic() - started,
        reason,
    )


async def _pause(
    coordination: Coordination, copies: MoveCopies, moves: list[_Move], started: float
) -> list[_Move]:
    """Pause every tenant at its primary; the ones not paused are released and fail."""
    answers = await _per_site(
        moves,
        lambda m: m.source,
        lambda site, group: copies.pause_many(
            site, [m.tenant for m in group], PAUSE_TTL_SECONDS, CATCH_UP_SECONDS
        ),
        within=CATCH_UP_SECONDS + BATCH_STEP_SECONDS,
    )
    live: list[_Move] = []
    released: list[_Move] = []
    for move in moves:
        answer = answers[move.tenant]
        if isinstance(answer, Exception):
            _fail(move, started, f"書き込みを止められません / could not pause writes: {answer}")
            released.append(move)
            continue
        move.paused = answer
        live.append(move)
    moved = [m for m in live if m.paused is not None and m.paused.epoch != m.revision]
    for move, fresh in zip(moved, await _reread(coordination, moved), strict=True):
        if fresh is None or fresh.primary != move.source or move.target not in fresh.in_sync:
            _fail(
                move,
                started,
                f"配置が変わりました / the placement changed meanwhile; {move.target} is no "
                "longer an in-sync replica: nothing was moved",
            )
            released.append(move)
        else:
            move.placement = fresh
    await _release(copies, released)
    return [m for m in live if m.result is None]


async def _seal(
    coordination: Coordination, copies: MoveCopies, moves: list[_Move], started: float
) -> list[_Move]:
    """Seal every target above its tenant's epoch; a tenant whose target did not seal,
    or holds less than the paused head, is given back to its old primary."""
    answers = await _per_site(
        moves,
        lambda m: m.target,
        lambda site, group: copies.seal_many(site, {m.tenant: m.revision + 1 for m in group}),
        within=BATCH_STEP_SECONDS,
    )
    back: list[tuple[_Move, str]] = []
    for move in moves:
        sealed, paused = answers[move.tenant], move.paused
        assert paused is not None
        if isinstance(sealed, Exception):
            back.append((move, f"封印できません / could not seal {move.target}: {sealed}"))
        elif sealed.durable_seq < paused.head_seq:
            back.append(
                (
                    move,
                    f"{move.target} は seq {sealed.durable_seq} で {paused.head_seq} に届きません / "
                    f"{move.target} holds seq {sealed.durable_seq}, not {paused.head_seq}",
                )
            )
        else:
            move.sealed = sealed
    await _reinstate_all(coordination, copies, back, started)
    return [m for m in moves if m.result is None]


async def _swap(
    coordination: Coordination, copies: MoveCopies, moves: list[_Move], started: float
) -> dict[str, int]:
    """Compare-and-swap every placement (each with its own revision); a tenant whose
    placement changed meanwhile is given back to its old primary."""
    if not moves:
        return {}
    changes = []
    for move in moves:
        assert move.sealed is not None
        in_sync = move.head is not None and move.head <= move.sealed.durable_seq
        changes.append((switched_placement(move.placement, move.target, in_sync), move.revision))
    try:
        written = await coordination.put_placements_if(changes)
    except Exception as error:  # etcd unreachable: as a single switchover, nothing to undo
        detail = getattr(error, "detail", None) or str(error)
        for move in moves:
            _fail(move, started, detail)
        return {}
    epochs: dict[str, int] = {}
    lost: list[tuple[_Move, str]] = []
    for move in moves:
        answer = written.get(move.tenant)
        if isinstance(answer, int):
            epochs[move.tenant] = answer
        else:
            conflict = answer if isinstance(answer, PlacementConflict) else None
            lost.append(
                (move, f"配置が同時に変更されました / the placement changed meanwhile ({conflict})")
            )
    await _reinstate_all(coordination, copies, lost, started)
    return epochs


async def _promote(
    copies: MoveCopies, moves: list[_Move], epochs: Mapping[str, int], started: float
) -> None:
    """Promote every target at its tenant's new epoch. The placement already names it:
    a promotion that does not answer is a note (the node promotes itself from the
    placement it watches); the old primaries are replicas now (write-fenced)."""
    answers = await _per_site(
        moves,
        lambda m: m.target,
        lambda site, group: copies.promote_many(site, {m.tenant: epochs[m.tenant] for m in group}),
        within=BATCH_STEP_SECONDS,
    )
    accepted = time.monotonic()
    for move in moves:
        problem = answers[move.tenant]
        move.result = MoveResult(
            move.tenant,
            move.source,
            move.target,
            True,
            epochs[move.tenant],
            accepted - started,
            accepted - started,
            f"promote answered: {problem}" if isinstance(problem, Exception) else "",
        )


# --------------------------------------------------------------------------- helpers


async def _per_site(
    moves: list[_Move],
    site_of: Callable[[_Move], str],
    call: Callable[[str, list[_Move]], Awaitable[Mapping[str, T | Exception]]],
    *,
    within: float,
) -> dict[str, T | Exception]:
    """One batched call per site, all at once; a call that fails as a whole is every
    one of its tenants' answer."""
    groups: dict[str, list[_Move]] = {}
    for move in moves:
        groups.setdefault(site_of(move), []).append(move)

    async def one(site: str, group: list[_Move]) -> dict[str, T | Exception]:
        try:
            async with asyncio.timeout(within):
                answers = dict(await call(site, group))
        except Exception as error:
            log.warning("batched call to %s failed: %r", site, error)
            return {m.tenant: _as_error(error) for m in group}
        missing = Exception(f"{site}: no answer")
        return {m.tenant: answers.get(m.tenant, missing) for m in group}

    merged: dict[str, T | Exception] = {}
    for answers in await asyncio.gather(*(one(s, g) for s, g in groups.items())):
        merged.update(answers)
    return merged


def _as_error(error: Exception) -> Exception:
    if isinstance(error, TimeoutError):
        return TimeoutError("no answer in time")
    return error


async def _heads(copies: MoveCopies, moves: list[_Move]) -> dict[str, int | None]:
    """The old primaries' log heads (None: unknown, so the old primary leaves the
    in-sync set — the safe side)."""
    answers = await _per_site(
        moves,
        lambda m: m.source,
        lambda site, group: copies.status_many(site, [m.tenant for m in group]),
        within=BATCH_STEP_SECONDS,
    )
    return {t: None if isinstance(a, Exception) else a.durable_seq for t, a in answers.items()}


async def _reread(coordination: Coordination, moves: Iterable[_Move]) -> list[Placement | None]:
    """Placements that moved as their primary saw them, read again (rare)."""

    async def one(move: _Move) -> Placement | None:
        placement, _ = await coordination.get_placement(move.tenant)
        return placement

    return list(await asyncio.gather(*(one(m) for m in moves)))


async def _release(copies: MoveCopies, moves: list[_Move]) -> None:
    """End the pauses of tenants that will not move (before any seal: nothing changed)."""
    await _per_site(
        moves,
        lambda m: m.source,
        lambda site, group: copies.resume_many(site, [m.tenant for m in group]),
        within=BATCH_STEP_SECONDS,
    )


async def _reinstate_all(
    coordination: Coordination,
    copies: MoveCopies,
    failed: list[tuple[_Move, str]],
    started: float,
) -> None:
    """After a seal: each failed tenant is given back to its old primary at a new epoch
    above the seal (one by one: this is the rare path)."""
    notes = await asyncio.gather(
        *(reinstate(coordination, copies, m.tenant, m.source) for m, _ in failed),
        return_exceptions=True,
    )
    for (move, reason), note in zip(failed, notes, strict=True):
        if isinstance(note, BaseException) and not isinstance(note, Exception):
            raise note
        _fail(move, started, f"{reason}; {note}")
