"""What the controller asks of the tenants' copies (replication's endpoints at each site)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from replication.protocol.many import Answers
from replication.protocol.wire import PauseOut, ReplicaStatus, SealOut


class Copies(Protocol):
    """Signed calls to a site's replication endpoints (replication.client.PeerClient)."""

    async def seal(self, site: str, tenant: str, epoch: int) -> SealOut:
        """From now on refuse entries of epochs below ``epoch``; answer the durable seq."""

    async def promote(self, site: str, tenant: str, epoch: int) -> ReplicaStatus:
        """Become the tenant's primary, writing in ``epoch``."""


class MoveCopies(Copies, Protocol):
    """What a planned move asks beyond a promotion: pause and resume a primary's writes,
    and read a copy's state — for one tenant, or for many tenants of one site in one
    request (an evacuation; each tenant's answer is its result or its own error)."""

    async def pause(self, site: str, tenant: str, ttl: float = 10.0, wait: float = 5.0) -> PauseOut:
        """Stop new writes at the primary; answer once its in-sync set holds the head."""

    async def resume(self, site: str, tenant: str) -> ReplicaStatus:
        """End a pause (writes resume at that site if it is still the primary)."""

    async def status(self, site: str, tenant: str) -> ReplicaStatus:
        """The copy's state at ``site``."""

    async def pause_many(
        self, site: str, tenants: Sequence[str], ttl: float = 10.0, wait: float = 5.0
    ) -> Answers[PauseOut]: ...

    async def resume_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]: ...

    async def status_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]: ...

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]: ...

    async def promote_many(
        self, site: str, epochs: Mapping[str, int]
    ) -> Answers[ReplicaStatus]: ...
