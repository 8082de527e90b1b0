"""The tenants' copies as the controller and the move engine see them, in memory: each
copy's durable seq, seal and role per site; a site in ``down`` does not answer. Every
batched call is recorded, so a test can tell how many requests a move made."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from failover.coordination.interface import ClusterView
from replication.protocol.many import Answers
from replication.protocol.wire import PauseOut, ReplicaStatus, SealOut


@dataclass
class Copy:
    seq: int = 0
    sealed: int = 0
    primary: bool = False
    paused: bool = False


@dataclass
class MemoryCopies:
    #: the placements as the primaries know them (a pause answers the epoch it writes in)
    view: ClusterView
    copies: dict[tuple[str, str], Copy] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    #: (step, site, tenants) of every call, in order
    calls: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def place(self, tenant: str, primary: str, replicas: Sequence[str], seq: int = 10) -> None:
        self.copies[primary, tenant] = Copy(seq, primary=True)
        for site in replicas:
            self.copies[site, tenant] = Copy(seq)

    def steps(self, step: str) -> list[tuple[str, tuple[str, ...]]]:
        return [(site, tenants) for s, site, tenants in self.calls if s == step]

    def _reach(self, step: str, site: str, tenants: Sequence[str]) -> None:
        self.calls.append((step, site, tuple(tenants)))
        if site in self.down:
            raise ConnectionError(f"{site} does not answer")

    def _status(self, site: str, tenant: str) -> ReplicaStatus:
        copy = self.copies[site, tenant]
        return ReplicaStatus.model_construct(
            tenant=tenant,
            site=site,
            role="primary" if copy.primary else "replica",
            durable_seq=copy.seq,
            sealed_epoch=copy.sealed,
        )

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]:
        self._reach("seal", site, list(epochs))
        answers: Answers[SealOut] = {}
        for tenant, epoch in epochs.items():
            copy = self.copies[site, tenant]
            copy.sealed = max(copy.sealed, epoch)
            answers[tenant] = SealOut(
                tenant=tenant,
                sealed_epoch=copy.sealed,
                durable_seq=copy.seq,
                durable_epoch=1,
                applied_seq=copy.seq,
            )
        return answers

    async def promote_many(self, site: str, epochs: Mapping[str, int]) -> Answers[ReplicaStatus]:
        self._reach("promote", site, list(epochs))
        for tenant in epochs:
            for (other, name), copy in self.copies.items():
                if name == tenant:
                    copy.primary = other == site
        return {t: self._status(site, t) for t in epochs}

    async def connect(self, sites: Collection[str]) -> None:
        for site in sorted(sites):
            self.calls.append(("connect", site, ()))

    async def pause_many(
        self, site: str, tenants: Sequence[str], ttl: float = 10.0, wait: float = 5.0
    ) -> Answers[PauseOut]:
        self._reach("pause", site, tenants)
        answers: Answers[PauseOut] = {}
        for tenant in tenants:
            copy = self.copies[site, tenant]
            copy.paused = True
            placement = self.view.placement(tenant)
            epoch = 0 if placement is None else placement.epoch
            answers[tenant] = PauseOut.model_construct(
                tenant=tenant, site=site, head_seq=copy.seq, epoch=epoch
            )
        return answers

    async def resume_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]:
        self._reach("resume", site, tenants)
        for tenant in tenants:
            self.copies[site, tenant].paused = False
        return {t: self._status(site, t) for t in tenants}

    async def status_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]:
        self._reach("status", site, tenants)
        return {t: self._status(site, t) for t in tenants}
