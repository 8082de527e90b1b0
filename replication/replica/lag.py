"""How far this site's copy of each tenant lags behind its primary, as the gateway
states it on a read served from the copy (`X-Yui-Replica-Lag-Entries`, `-Seconds`).

Learned from what the primary sends (each batch and heartbeat carries its head), kept in
memory: the gateway asks on every read and must not touch the database.

- entries: the primary's head as last heard, minus what this copy has applied (a lower
  bound: the primary may have written since);
- seconds: since this copy last heard that it held everything the primary had. Every
  write acknowledged before that moment is in the copy; an idle tenant's heartbeat comes
  every 5 to 30 s, so an idle, current copy reads up to 30 s.

Unknown (the read is forwarded) until the copy has been caught up once since this
process started, and again after a divergence, a snapshot load, or this site becoming the
tenant's primary or writing it, until a primary is heard again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Heard:
    source: str
    primary_seq: int
    applied_seq: int
    #: monotonic time this copy was last known to hold everything its source had
    caught_up_at: float | None


class CopyLag:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._heard: dict[str, _Heard] = {}

    def heard(self, tenant: str, source: str, primary_seq: int, applied_seq: int) -> None:
        """A batch or heartbeat from ``source`` (its head ``primary_seq``) was taken; the
        copy has applied up to ``applied_seq``."""
        before = self._heard.get(tenant)
        if applied_seq >= primary_seq:
            caught_up_at: float | None = self.clock()
        elif before is not None and before.source == source:
            caught_up_at = before.caught_up_at
        else:
            caught_up_at = None
        self._heard[tenant] = _Heard(source, primary_seq, applied_seq, caught_up_at)

    def forget(self, tenant: str) -> None:
        """The copy is being replaced or written here: its lag is unknown again."""
        self._heard.pop(tenant, None)

    def lag(self, tenant: str, primary: str) -> tuple[int, float] | None:
        """(entries, seconds) behind ``primary``; None when unknown."""
        heard = self._heard.get(tenant)
        if heard is None or heard.source != primary or heard.caught_up_at is None:
            return None
        return (
            max(0, heard.primary_seq - heard.applied_seq),
            max(0.0, self.clock() - heard.caught_up_at),
        )
