"""The console's platform pages, lent what the site node knows of the cluster: the
sites (topology and etcd's live leases), each tenant's placement, its replicas' lag
(asked of each primary), and planned switchovers (failover.controller.moves, as
`yui failover switchover` makes them)."""

from __future__ import annotations

import asyncio
import logging

from assembly.cluster import ClusterLink
from console.staff.platform import MoveNotAllowed, MoveOutcome, ReplicaRow, SiteRow, TenantRow
from replication.node import ReplicationNode
from replication.protocol.wire import TenantStatus

log = logging.getLogger("assembly.console_platform")
#: how long the page waits for a primary's status before showing the lag as unknown
STATUS_TIMEOUT_SECONDS = 2.0


class NodePlatform:
    def __init__(self, cluster: ClusterLink, replication: ReplicationNode | None) -> None:
        self.cluster = cluster
        self.replication = replication

    @property
    def coordination_connected(self) -> bool:
        return bool(self.cluster.view.connected)

    def sites(self) -> list[SiteRow]:
        topology = self.cluster.settings.topology
        live = self.cluster.view.sites()
        controller = self.cluster.view.controller
        rows = []
        for spec in topology.sites if topology is not None else ():
            record = live.get(spec.name)
            rows.append(
                SiteRow(
                    name=spec.name,
                    provider=record.provider if record else spec.provider,
                    region=record.region if record else spec.region,
                    zones=tuple(spec.hazard_zones),
                    url=spec.url,
                    live=record is not None,
                    this_site=spec.name == self.cluster.site,
                    controller=controller is not None and controller[0] == spec.name,
                )
            )
        return rows

    async def _statuses(self) -> dict[str, TenantStatus]:
        """Each primary's view of its tenants' replicas (this site's without a call)."""
        if self.replication is None:
            return {}
        node = self.replication
        found = {status.tenant: status for status in node.primaries.statuses()}
        primaries = {p.primary for p in self.cluster.view.placements().values()}

        async def ask(site: str) -> list[TenantStatus]:
            try:
                status = await asyncio.wait_for(
                    node.client.node_status(site), STATUS_TIMEOUT_SECONDS
                )
            except Exception as error:  # the page shows the lag as unknown
                log.info("no status from %s for the console: %s", site, error)
                return []
            return list(status.tenants)

        others = sorted(primaries - {self.cluster.site})
        for statuses in await asyncio.gather(*(ask(site) for site in others)):
            found.update({status.tenant: status for status in statuses if status.role == "primary"})
        return found

    async def tenants(self) -> list[TenantRow]:
        statuses = await self._statuses()
        rows = []
        for tenant, placement in sorted(self.cluster.view.placements().items()):
            status = statuses.get(tenant)
            streams = {stream.replica: stream for stream in status.replicas} if status else {}
            rows.append(
                TenantRow(
                    tenant=tenant,
                    primary=placement.primary,
                    replicas=tuple(
                        ReplicaRow(
                            site=site,
                            in_sync=site in placement.in_sync,
                            lag_entries=streams[site].lag_entries if site in streams else None,
                            lag_seconds=streams[site].lag_seconds if site in streams else None,
                            state=streams[site].state if site in streams else "",
                        )
                        for site in placement.replicas
                    ),
                    epoch=placement.epoch,
                    mode=placement.mode,
                    lag_known=status is not None,
                )
            )
        return rows

    async def switchover(self, tenant: str, target: str) -> MoveOutcome:
        from failover.controller.moves import MoveRefused, UnknownTenant, switchover

        if self.replication is None:
            raise MoveNotAllowed(
                "この拠点は複製を動かしていないため切り替えられません / this site does not run "
                "replication: it cannot make a switchover"
            )
        try:
            result = await switchover(
                self.cluster.coordination, self.replication.client, tenant, target
            )
        except (UnknownTenant, MoveRefused) as refused:
            raise MoveNotAllowed(refused.detail) from None
        return MoveOutcome(
            ok=result.ok,
            tenant=result.tenant,
            source=result.source,
            target=result.target,
            reason=result.reason or "",
            pause_seconds=result.pause_seconds,
        )
