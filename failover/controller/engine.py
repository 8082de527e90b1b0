"""The move engine's shared pieces: what one switchover of a tenant produces
(:class:`MoveResult`), its step timings, the placement it writes, and how a move that
cannot finish after its seal gives the tenant back to its old primary (:func:`reinstate`).

Both the single switchover (failover.controller.moves) and the batched one
(failover.controller.batched) build on this module, and it imports neither.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from failover.controller.ports import MoveCopies
from failover.coordination.interface import Coordination, PlacementConflict
from failover.placement.policy import Placement

log = logging.getLogger("yui.failover")

#: how long a pause may last before the old primary resumes by itself
PAUSE_TTL_SECONDS = 10.0
#: how long the in-sync set may take to catch up once writes are paused
CATCH_UP_SECONDS = 5.0
STEP_TIMEOUT_SECONDS = 5.0

Progress = Callable[["MoveResult"], None]


@dataclass(frozen=True)
class MoveResult:
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


def switched_placement(placement: Placement, target: str, source_in_sync: bool) -> Placement:
    """``target`` becomes the primary; the old primary becomes its first replica, in the
    in-sync set when it holds no entry the target lacks."""
    source = placement.primary
    replicas = tuple(s for s in placement.copies if s != target)
    in_sync = tuple(
        s for s in replicas if s in placement.in_sync or (s == source and source_in_sync)
    )
    return replace(placement, primary=target, replicas=replicas, in_sync=in_sync)


async def quietly(work: Awaitable[object], what: str) -> str | None:
    try:
        async with asyncio.timeout(STEP_TIMEOUT_SECONDS):
            await work
    except Exception as error:
        log.warning("%s failed: %s", what, error)
        return f"{type(error).__name__}: {error}"
    return None


async def reinstate(
    coordination: Coordination, copies: MoveCopies, tenant: str, source: str
) -> str:
    """After a seal, a move that cannot finish gives the tenant back to ``source`` at a
    new epoch above the seal (its replicas would refuse its old epoch)."""
    for _attempt in range(3):
        current, revision = await coordination.get_placement(tenant)
        if current is None or current.primary != source:
            return "the placement moved meanwhile; its new primary serves"
        try:
            epoch = await coordination.put_placement_if(tenant, current, revision)
        except PlacementConflict:
            continue
        problem = await quietly(copies.promote(source, tenant, epoch), f"reinstate {tenant}")
        await quietly(copies.resume(source, tenant), f"resume {tenant}")
        return f"{source} reinstated at epoch {epoch}" + (f" ({problem})" if problem else "")
    return "could not reinstate (the placement kept changing)"
