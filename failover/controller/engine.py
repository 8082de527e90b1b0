"""The move engine: every change of a tenant's primary takes its steps here, for a batch
of tenants at once — a promotion after its primary was lost, a planned switchover, the
reinstatement of an old primary after a move that could not finish, the lifting of a
stray seal. One tenant's move is a batch of one.

The steps (DESIGN.md, "Failover"), each one request per site for all of its tenants
(replication's ``/batch/...`` endpoints) and one etcd transaction per chunk of
placements, every check still per tenant:

1. **read** the placements (each one's revision is the epoch its move compares);
2. **pause** (planned moves only) the old primary: new writes get a retryable 503 and it
   answers once its in-sync set holds its head;
3. **seal** the copies that may take over at the revision + 1: from then on they refuse
   the old primary's epoch, so it can acknowledge nothing they lack;
4. **choose** — a promotion: the sealed in-sync member the policy prefers (highest seq,
   another hazard zone, then load); a switchover: its target, if it holds the head the
   pause answered;
5. **write** each placement by compare-and-swap at its own revision (fenced by the
   controller's term when the controller moves it): the new revision is the new epoch;
6. **promote** the new primaries at their new epochs (a node that does not answer
   promotes itself from the placement it watches).

When a move cannot finish: before its seal, the pause is released and nothing changed;
after it, a switchover reinstates the old primary (:func:`reinstate`: the same placement
rewritten, an epoch above the seal) and a promotion that lost its compare starts again
from a fresh read. Safety never rests on timing: the seal and the compare-and-swap do it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from failover.controller.ports import Copies, MoveCopies
from failover.coordination.interface import Coordination, Leadership, PlacementConflict
from failover.placement.policy import Placement, SiteInfo, choose_promotion
from replication.protocol.wire import PauseOut, SealOut

log = logging.getLogger("yui.failover")

#: how long a pause may last before the old primary resumes by itself
PAUSE_TTL_SECONDS = 10.0
#: how long the in-sync set may take to catch up once writes are paused
CATCH_UP_SECONDS = 5.0
#: tenants per batch: one request per site and step, one etcd transaction
BATCH_TENANTS = 100
#: how long one batched call may take at one site (a whole batch)
STEP_SECONDS = 15.0
#: how long a promotion waits for seals: a replica that does not answer by then is not a
#: candidate (the tenant has no primary meanwhile)
PROMOTION_SEAL_SECONDS = 2.0
#: compare-and-swaps a promotion may lose (each starts again from a fresh read)
PROMOTION_ATTEMPTS = 5
#: the same for giving a tenant back to its old primary
REINSTATE_ATTEMPTS = 3

T = TypeVar("T")
Progress = Callable[["MoveResult"], None]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MoveResult:
    """One planned switchover."""

    tenant: str
    source: str
    target: str | None
    ok: bool
    #: the placement's epoch after the move (None when it did not change)
    epoch: int | None = None
    #: from the pause at the old primary to the new primary accepting writes
    pause_seconds: float | None = None
    seconds: float = 0.0
    #: why it did not move (Japanese / English), or a note
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Promotion:
    """One promotion of a tenant whose primary was lost."""

    tenant: str
    old_primary: str
    new_primary: str | None
    epoch: int | None
    sealed: dict[str, int]
    seconds: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.new_primary is not None


@dataclass(frozen=True)
class Reinstated:
    """A tenant given back to its old primary: its new ``epoch``, or None; ``note`` says
    what happened, for the move's reason."""

    epoch: int | None
    note: str


# --------------------------------------------------------------------------- placements


def promoted_placement(
    placement: Placement, new_primary: str, sealed: Mapping[str, int]
) -> Placement:
    """The new primary; the old one stays a replica (it rejoins and catches up) but out of
    the in-sync set, as does every member that did not seal."""
    replicas = tuple(s for s in (placement.primary, *placement.replicas) if s != new_primary)
    in_sync = tuple(s for s in placement.in_sync if s != new_primary and s in sealed)
    return replace(placement, primary=new_primary, replicas=replicas, in_sync=in_sync)


def switched_placement(placement: Placement, target: str, source_in_sync: bool) -> Placement:
    """``target`` becomes the primary; the old primary becomes its first replica, in the
    in-sync set when it holds no entry the target lacks."""
    source = placement.primary
    replicas = tuple(s for s in placement.copies if s != target)
    in_sync = tuple(
        s for s in replicas if s in placement.in_sync or (s == source and source_in_sync)
    )
    return replace(placement, primary=target, replicas=replicas, in_sync=in_sync)


# --------------------------------------------------------------------------- the steps


async def read(coordination: Coordination, tenants: Collection[str]) -> dict[str, Placement]:
    """Step 1: the tenants' placements as etcd has them now (a tenant without one is left
    out); one read for one tenant, one listing for more."""
    if len(tenants) == 1:
        (tenant,) = tenants
        placement, _ = await coordination.get_placement(tenant)
        return {} if placement is None else {tenant: placement}
    placements, _ = await coordination.list_placements()
    return {t: placements[t] for t in tenants if t in placements}


async def per_site(
    calls: Iterable[tuple[str, str]],
    call: Callable[[str, list[str]], Awaitable[Mapping[str, T | Exception]]],
    *,
    within: float,
) -> dict[tuple[str, str], T | Exception]:
    """One batched ``call(site, tenants)`` per site named in ``calls`` ((site, tenant)
    pairs), every site at once. Each pair's answer is its tenant's result or error; a
    call that fails as a whole, or a tenant the site leaves out, answers an error."""
    groups: dict[str, list[str]] = {}
    for site, tenant in calls:
        groups.setdefault(site, []).append(tenant)

    async def one(site: str, tenants: list[str]) -> dict[tuple[str, str], T | Exception]:
        try:
            async with asyncio.timeout(within):
                answers = dict(await call(site, tenants))
        except Exception as error:
            log.warning("batched call to %s failed: %r", site, error)
            failed = TimeoutError("no answer in time") if isinstance(error, TimeoutError) else error
            return {(site, t): failed for t in tenants}
        missing = Exception(f"{site}: no answer")
        return {(site, t): answers.get(t, missing) for t in tenants}

    merged: dict[tuple[str, str], T | Exception] = {}
    for answers in await asyncio.gather(*(one(s, g) for s, g in groups.items())):
        merged.update(answers)
    return merged


async def seal(
    copies: Copies, sites: Mapping[str, Collection[str]], epochs: Mapping[str, int], within: float
) -> dict[tuple[str, str], SealOut | Exception]:
    """Step 3: seal each tenant's copies at ``sites[tenant]`` at its epoch."""
    return await per_site(
        ((site, tenant) for tenant, names in sites.items() for site in names),
        lambda site, tenants: copies.seal_many(site, {t: epochs[t] for t in tenants}),
        within=within,
    )


async def write(
    coordination: Coordination,
    changes: Sequence[tuple[Placement, int]],
    leader: Leadership | None = None,
) -> dict[str, int | Exception]:
    """Step 5: each placement by compare-and-swap at its revision; per tenant its new epoch,
    its :class:`PlacementConflict`, or the error that failed the whole write (etcd
    unreachable, the controller's term over: the write may not have happened)."""
    if not changes:
        return {}
    try:
        written = await coordination.put_placements_if(changes, leader=leader)
    except Exception as error:
        return {placement.tenant: error for placement, _ in changes}
    return dict(written)


async def promote(
    copies: Copies, targets: Mapping[str, tuple[str, int]]
) -> dict[str, Exception | None]:
    """Step 6: tell each tenant's new primary (``targets``: tenant -> (site, epoch)) its
    epoch; per tenant the error it answered, if any."""
    answers = await per_site(
        ((site, tenant) for tenant, (site, _) in targets.items()),
        lambda site, tenants: copies.promote_many(site, {t: targets[t][1] for t in tenants}),
        within=STEP_SECONDS,
    )
    return {t: a if isinstance(a, Exception) else None for (_, t), a in answers.items()}


async def reinstate(
    coordination: Coordination,
    copies: Copies,
    sources: Mapping[str, str],
    *,
    leader: Leadership | None = None,
    known: Mapping[str, Placement] | None = None,
    attempts: int = REINSTATE_ATTEMPTS,
) -> dict[str, Reinstated]:
    """Give each tenant back to its old primary (``sources``: tenant -> site) at a new
    epoch above a seal its move left (its replicas would refuse its old epoch): the same
    placement rewritten, then the primary promoted at the new revision. A tenant whose
    placement no longer names that primary is left alone (its new primary serves).
    ``known``: placements already read, for the first attempt."""
    done: dict[str, Reinstated] = {}
    pending = dict(sources)
    # Not a retry of errors (no retry helper): a lost compare-and-swap reads again and
    # decides again, per tenant of the batch.
    for attempt in range(attempts):
        if not pending:
            break
        if attempt == 0 and known is not None:
            current = {t: known[t] for t in pending if t in known}
        else:
            current = await read(coordination, pending)
        for tenant, source in pending.items():
            if tenant not in current or current[tenant].primary != source:
                done[tenant] = Reinstated(
                    None, "the placement moved meanwhile; its new primary serves"
                )
        changes = [(current[t], current[t].epoch) for t in pending if t not in done]
        written = await write(coordination, changes, leader)
        epochs = {t: e for t, e in written.items() if isinstance(e, int)}
        for tenant, answer in written.items():
            if isinstance(answer, Exception) and not isinstance(answer, PlacementConflict):
                done[tenant] = Reinstated(None, f"{type(answer).__name__}: {answer}")
        problems = await promote(copies, {t: (pending[t], e) for t, e in epochs.items()})
        for tenant, epoch in epochs.items():
            problem = problems[tenant]
            note = f"{pending[tenant]} reinstated at epoch {epoch}"
            done[tenant] = Reinstated(
                epoch, note + (f" ({type(problem).__name__}: {problem})" if problem else "")
            )
        pending = {t: s for t, s in pending.items() if t not in done}
    for tenant in pending:
        done[tenant] = Reinstated(None, "could not reinstate (the placement kept changing)")
    return done


# --------------------------------------------------------------------------- promotions


async def promote_lost(
    coordination: Coordination,
    copies: Copies,
    lost: Mapping[str, str],
    sites: list[SiteInfo],
    *,
    leader: Leadership | None = None,
    primaries: Mapping[str, int] | None = None,
) -> list[Promotion]:
    """Promote every tenant of ``lost`` (tenant -> the site of its lost primary), in
    batches of :data:`BATCH_TENANTS`. With ``leader``, a controller that lost its role
    seals nothing, and its placement writes are fenced by its term."""
    tenants = list(lost)
    chunks = [tenants[i : i + BATCH_TENANTS] for i in range(0, len(tenants), BATCH_TENANTS)]
    results: dict[str, Promotion] = {}
    for done in await asyncio.gather(
        *(
            _promote_batch(
                coordination, copies, {t: lost[t] for t in chunk}, sites, leader, primaries
            )
            for chunk in chunks
        )
    ):
        results.update(done)
    return [results[t] for t in tenants]


async def _promote_batch(
    coordination: Coordination,
    copies: Copies,
    lost: Mapping[str, str],
    sites: list[SiteInfo],
    leader: Leadership | None,
    primaries: Mapping[str, int] | None,
) -> dict[str, Promotion]:
    started = time.monotonic()
    results: dict[str, Promotion] = {}
    pending = dict(lost)

    def done(
        tenant: str, new: str | None, epoch: int | None, sealed: dict[str, int], reason: str
    ) -> None:
        results[tenant] = Promotion(
            tenant, lost[tenant], new, epoch, sealed, time.monotonic() - started, reason
        )

    # As in reinstate: a lost compare starts that tenant again from a fresh read.
    for _attempt in range(PROMOTION_ATTEMPTS):
        if not pending:
            break
        placements = await read(coordination, pending)
        ready: dict[str, Placement] = {}
        for tenant, site in pending.items():
            placement = placements.get(tenant)
            if placement is None:
                results[tenant] = Promotion(tenant, site, None, None, {}, 0.0, "no placement")
            elif placement.primary != site:  # someone else already moved it
                results[tenant] = Promotion(
                    tenant, site, placement.primary, placement.epoch, {}, 0.0, "already moved"
                )
            elif leader is not None and not leader.is_leader:
                # A seal without the placement write that follows it stalls the tenant (its
                # replicas refuse its primary): a controller that lost the role seals nothing.
                done(
                    tenant,
                    None,
                    None,
                    {},
                    "この制御器は役を失いました / this controller lost the role",
                )
            else:
                ready[tenant] = placement
        # Only copies the policy could choose are sealed: a seal on a site without a lease
        # key (it may be registering again) would fence a live primary and promote nobody.
        registered = {site.name for site in sites}
        answers = await seal(
            copies,
            {
                t: [s for s in p.in_sync if s != pending[t] and s in registered]
                for t, p in ready.items()
            },
            {t: p.epoch + 1 for t, p in ready.items()},
            PROMOTION_SEAL_SECONDS,
        )
        sealed: dict[str, dict[str, int]] = {t: {} for t in ready}
        for (site, tenant), seal_answer in answers.items():
            if isinstance(seal_answer, Exception):  # unreachable or refusing: not a candidate
                log.warning("seal of %s at %s failed: %s", tenant, site, seal_answer)
            else:
                sealed[tenant][site] = seal_answer.durable_seq
        chosen: dict[str, str] = {}
        for tenant, placement in ready.items():
            choice = choose_promotion(
                placement, sites, sealed[tenant], pending[tenant], primaries=primaries
            )
            if choice is None:
                done(
                    tenant,
                    None,
                    None,
                    sealed[tenant],
                    "昇格できる同期レプリカがありません / no in-sync replica could be sealed",
                )
            else:
                chosen[tenant] = choice
        changes = [
            (promoted_placement(ready[t], choice, sealed[t]), ready[t].epoch)
            for t, choice in chosen.items()
        ]
        epochs: dict[str, int] = {}
        for tenant, answer in (await write(coordination, changes, leader)).items():
            if isinstance(answer, int):
                epochs[tenant] = answer
            elif not isinstance(answer, PlacementConflict):  # a conflict: read again
                log.error("promotion of %s failed: %s", tenant, answer)
                done(tenant, None, None, sealed[tenant], f"{type(answer).__name__}: {answer}")
        problems = await promote(copies, {t: (chosen[t], e) for t, e in epochs.items()})
        for tenant, epoch in epochs.items():
            problem = problems[tenant]
            # the new primary's node also promotes itself from the placement it watches
            note = f"promote answered: {problem}" if problem else ""
            done(tenant, chosen[tenant], epoch, sealed[tenant], note)
        pending = {t: s for t, s in pending.items() if t not in results}
    for tenant in pending:
        done(tenant, None, None, {}, "too many conflicts")
    return results


# --------------------------------------------------------------------------- switchovers


@dataclass
class _Switch:
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


@dataclass
class _Batch:
    coordination: Coordination
    copies: MoveCopies
    moves: list[_Switch]
    started: float = field(default_factory=time.monotonic)

    def live(self) -> list[_Switch]:
        return [m for m in self.moves if m.result is None]

    def fail(self, move: _Switch, reason: str, epoch: int | None = None) -> None:
        log.warning(
            "switchover %s %s -> %s failed: %s", move.tenant, move.source, move.target, reason
        )
        move.result = MoveResult(
            move.tenant,
            move.source,
            move.target,
            False,
            epoch,
            None,
            time.monotonic() - self.started,
            reason,
        )


async def switch(
    coordination: Coordination,
    copies: MoveCopies,
    moves: Sequence[tuple[str, str | None, str]],
    *,
    concurrency: int = BATCH_TENANTS,
    progress: Progress | None = None,
    placements: Mapping[str, Placement] | None = None,
) -> list[MoveResult]:
    """Carry out ``(tenant, target, source)`` switchovers in batches (``concurrency``
    tenants in flight). A tenant no longer at ``source`` is skipped (ok); one whose
    target is missing or not in sync is refused. ``placements``: already read."""
    if placements is None:
        placements = await read(coordination, {t for t, _, _ in moves})
    results: dict[str, MoveResult] = {}
    ready: list[_Switch] = []
    for tenant, target, source in moves:
        decided = _before_start(placements.get(tenant), tenant, target, source)
        if isinstance(decided, MoveResult):
            results[tenant] = decided
            if progress is not None:
                progress(decided)
        else:
            ready.append(decided)
    # the sites asked inside the pauses (the sources, the in-sync copies sealed, the
    # targets), connected beforehand: a TLS handshake inside a pause lengthened it
    await copies.connect({site for m in ready for site in (m.source, *m.placement.in_sync)})
    size = max(1, min(concurrency, BATCH_TENANTS))
    gate = asyncio.Semaphore(max(1, concurrency // size))

    async def batch(chunk: list[_Switch]) -> None:
        async with gate:
            for result in await _switch_batch(_Batch(coordination, copies, chunk)):
                results[result.tenant] = result
                if progress is not None:
                    progress(result)

    await asyncio.gather(*(batch(ready[i : i + size]) for i in range(0, len(ready), size)))
    return [results[tenant] for tenant, _, _ in moves]


def _before_start(
    placement: Placement | None, tenant: str, target: str | None, source: str
) -> _Switch | MoveResult:
    """What is decided before anything is paused."""
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
    return _Switch(tenant, placement, target)


async def _switch_batch(batch: _Batch) -> list[MoveResult]:
    await _pause(batch)
    heads = asyncio.create_task(_heads(batch))  # a write that slipped past the pause
    await _seal_targets(batch)
    head_of = await heads
    for move in batch.live():
        move.head = head_of.get(move.tenant)
    epochs = await _write_switched(batch)
    await _promote_targets(batch, epochs)
    done = [m.result for m in batch.moves if m.result is not None]
    log.info(
        "switched %d of %d tenants in %.2f s",
        sum(r.ok for r in done),
        len(batch.moves),
        time.monotonic() - batch.started,
    )
    return done


async def _pause(batch: _Batch) -> None:
    """Pause every tenant at its primary; the ones not paused are released and fail."""
    copies = batch.copies
    answers = await per_site(
        ((m.source, m.tenant) for m in batch.moves),
        lambda site, tenants: copies.pause_many(site, tenants, PAUSE_TTL_SECONDS, CATCH_UP_SECONDS),
        within=CATCH_UP_SECONDS + STEP_SECONDS,
    )
    released: list[_Switch] = []
    for move in batch.moves:
        answer = answers[move.source, move.tenant]
        if isinstance(answer, Exception):
            batch.fail(move, f"書き込みを止められません / could not pause writes: {answer}")
            released.append(move)
        else:
            move.paused = answer
    moved = [m for m in batch.live() if m.paused is not None and m.paused.epoch != m.revision]
    fresh = await read(batch.coordination, [m.tenant for m in moved]) if moved else {}
    for move in moved:  # the placement moved, as the primary saw it: read again
        now = fresh.get(move.tenant)
        if now is None or now.primary != move.source or move.target not in now.in_sync:
            batch.fail(
                move,
                f"配置が変わりました / the placement changed meanwhile; {move.target} is no "
                "longer an in-sync replica: nothing was moved",
            )
            released.append(move)
        else:
            move.placement = now
    await _release(copies, released)


async def _seal_targets(batch: _Batch) -> None:
    """Seal every target above its tenant's epoch; a tenant whose target did not seal,
    or holds less than the paused head, is given back to its old primary."""
    live = batch.live()
    answers = await seal(
        batch.copies,
        {m.tenant: [m.target] for m in live},
        {m.tenant: m.revision + 1 for m in live},
        STEP_SECONDS,
    )
    back: list[tuple[_Switch, str]] = []
    for move in live:
        sealed, paused = answers[move.target, move.tenant], move.paused
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
    await _give_back(batch, back)


async def _write_switched(batch: _Batch) -> dict[str, int]:
    """Compare-and-swap every placement (each with its own revision); a tenant whose
    placement changed meanwhile is given back to its old primary."""
    live = batch.live()
    changes = []
    for move in live:
        assert move.sealed is not None
        in_sync = move.head is not None and move.head <= move.sealed.durable_seq
        changes.append((switched_placement(move.placement, move.target, in_sync), move.revision))
    written = await write(batch.coordination, changes)
    epochs: dict[str, int] = {}
    lost: list[tuple[_Switch, str]] = []
    for move in live:
        answer = written[move.tenant]
        if isinstance(answer, int):
            epochs[move.tenant] = answer
        elif isinstance(answer, PlacementConflict):
            lost.append(
                (move, f"配置が同時に変更されました / the placement changed meanwhile ({answer})")
            )
        else:  # etcd unreachable: the seal stays until the next placement change
            batch.fail(move, getattr(answer, "detail", None) or str(answer))
    await _give_back(batch, lost)
    return epochs


async def _promote_targets(batch: _Batch, epochs: Mapping[str, int]) -> None:
    """Promote every target at its tenant's new epoch. The placement already names it:
    a promotion that does not answer is a note (the node promotes itself from the
    placement it watches); the old primaries are replicas now (write-fenced)."""
    live = batch.live()
    problems = await promote(batch.copies, {m.tenant: (m.target, epochs[m.tenant]) for m in live})
    accepted = time.monotonic()
    for move in live:
        problem = problems[move.tenant]
        move.result = MoveResult(
            move.tenant,
            move.source,
            move.target,
            True,
            epochs[move.tenant],
            accepted - batch.started,
            accepted - batch.started,
            f"promote answered: {problem}" if problem else "",
        )


async def _heads(batch: _Batch) -> dict[str, int | None]:
    """The old primaries' log heads (None: unknown, so the old primary leaves the
    in-sync set — the safe side)."""
    copies = batch.copies
    answers = await per_site(
        ((m.source, m.tenant) for m in batch.live()),
        copies.status_many,
        within=STEP_SECONDS,
    )
    return {t: None if isinstance(a, Exception) else a.durable_seq for (_, t), a in answers.items()}


async def _release(copies: MoveCopies, moves: Iterable[_Switch]) -> None:
    """End the pauses of tenants that will not move at their old primaries: before a
    seal nothing changed; after a reinstatement their writes resume there."""
    await per_site(((m.source, m.tenant) for m in moves), copies.resume_many, within=STEP_SECONDS)


async def _give_back(batch: _Batch, failed: list[tuple[_Switch, str]]) -> None:
    """After a seal: each failed tenant goes back to its old primary at a new epoch above
    the seal, and its writes resume there."""
    if not failed:
        return
    back = await reinstate(
        batch.coordination, batch.copies, {m.tenant: m.source for m, _ in failed}
    )
    await _release(batch.copies, [m for m, _ in failed if back[m.tenant].epoch is not None])
    for move, reason in failed:
        batch.fail(move, f"{reason}; {back[move.tenant].note}")
