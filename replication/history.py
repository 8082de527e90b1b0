"""The epoch history of a tenant's log: at which seq each epoch's entries begin.

``[[0, 1], [7, 11]]`` says entries 1–10 were written in epoch 0 and entries from 11 on
in epoch 7. One primary writes a seq once in its epoch, so (seq, epoch) names an entry
everywhere, and two logs that agree on the epoch at seq N agree on every entry up to N
(each append checks the entry before it). The history is a few pairs per failover,
kept when the log itself is truncated — Kafka's leader-epoch cache (KIP-101).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

History = list[list[int]]


def epoch_at(history: Sequence[Sequence[int]], seq: int) -> int:
    """The epoch of the entry at ``seq`` (0 before the first recorded epoch)."""
    epoch = 0
    for entry_epoch, start in history:
        if start > seq:
            break
        epoch = entry_epoch
    return epoch


def extended(history: Sequence[Sequence[int]], entries: Iterable[tuple[int, int]]) -> History:
    """The history after appending entries given as (seq, epoch), in seq order."""
    result = [list(pair) for pair in history]
    last = result[-1][0] if result else 0
    for seq, epoch in entries:
        if epoch != last:
            result.append([epoch, seq])
            last = epoch
    return result


def clipped(history: Sequence[Sequence[int]], seq: int) -> History:
    """The history of a log cut after ``seq``."""
    return [list(pair) for pair in history if pair[1] <= seq]


def with_epoch(history: Sequence[Sequence[int]], epoch: int, start: int) -> History:
    """The history once a new primary writes in ``epoch`` from ``start`` on."""
    result = clipped(history, start - 1)
    if epoch > (result[-1][0] if result else 0):
        result.append([epoch, start])
    return result
