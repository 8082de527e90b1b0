"""A node's start-up heap, kept out of the garbage collector's way.

What a node builds at start-up (its routes, schemas, ORM mappers, settings: ~330,000
objects) lives as long as the process, yet every full collection walked all of it:
~0.2 s of CPU each, and on a busy machine a stall of the event loop of a second or more.
The loop's watchdog caught one right after a promotion (bench/failover.py, 2026-12-07:
the loop thread in the collector's weakref callbacks, 1.2 s, while its lease renewal
waited), so the new primary acknowledged nothing for seconds. Frozen, that heap is moved
to a generation the collector never visits; later collections walk only what was made
since (CPython's gc.freeze, made for long-lived servers).
"""

from __future__ import annotations

import gc


def freeze_start_up_heap() -> int:
    """Collect what start-up left as garbage, then freeze the rest; returns how many
    objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
