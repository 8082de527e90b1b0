"""What the failover controller and the planned moves ask of the tenants' copies
(replication's endpoints at each site, replication.protocol.client.PeerClient): always in the
batched form, one request per site for many tenants (the move engine's steps); each
tenant's answer is its result or its own error."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from replication.protocol.many import Answers
from replication.protocol.wire import PauseOut, ReplicaStatus, SealOut


class Copies(Protocol):
    """What a promotion asks."""

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]:
        """From now on each tenant's copy refuses entries of epochs below its epoch;
        answer its durable seq."""

    async def promote_many(self, site: str, epochs: Mapping[str, int]) -> Answers[ReplicaStatus]:
        """Become each tenant's primary, writing in its epoch."""


class MoveCopies(Copies, Protocol):
    """What a planned move asks beyond a promotion: pause and resume a primary's writes,
    and read a copy's state."""

    async def connect(self, sites: Collection[str]) -> None:
        """Open (or keep) a connection to each of ``sites``, before a move pauses writes:
        every request of a move from its pause to its promotion falls inside the pause,
        and a TLS handshake there lengthened it. A site that does not answer in time is
        left to the move, which judges it."""

    async def pause_many(
        self, site: str, tenants: Sequence[str], ttl: float = 10.0, wait: float = 5.0
    ) -> Answers[PauseOut]:
        """Stop new writes at the primary; answer once its in-sync set holds the head."""

    async def resume_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]:
        """End a pause (writes resume at that site if it is still the primary)."""

    async def status_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]:
        """The copies' states at ``site``."""
