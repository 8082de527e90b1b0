"""What the controller asks of the tenants' copies (replication's endpoints at each site)."""

from __future__ import annotations

from typing import Protocol

from replication.wire import ReplicaStatus, SealOut


class Copies(Protocol):
    """Signed calls to a site's replication endpoints (replication.client.PeerClient)."""

    async def seal(self, site: str, tenant: str, epoch: int) -> SealOut:
        """From now on refuse entries of epochs below ``epoch``; answer the durable seq."""

    async def promote(self, site: str, tenant: str, epoch: int) -> ReplicaStatus:
        """Become the tenant's primary, writing in ``epoch``."""
