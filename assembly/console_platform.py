"""The console's platform pages, lent what the site node knows of the cluster: the
sites (topology and etcd's live leases), each tenant's placement, its replicas' lag
(asked of each primary), planned switchovers and evacuations (failover.controller.moves,
as `yui failover switchover/evacuate` make them), each site's quarantine (as `yui
replication quarantine list/resolve`), the saved drills (failover.drill.report) and the
alerts this site received (failover.alerts.received).

An operator's move is recorded in each moved tenant's audit log. A tenant's rows are
written at its primary only, so the entry is written there: here when this site is the
primary, else through the sites' signed channel (``POST /replication/v1/operator-audit``,
mounted by :func:`include_operator_audit`), in the tenant's own unit of work.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from assembly.cluster import ClusterLink
from console.common.settings import ConsoleSettings
from console.staff.platform import (
    AlertRow,
    DrillRow,
    EvacuationOutcome,
    MoveNotAllowed,
    MoveOutcome,
    PlatformRefused,
    QuarantinedRow,
    ReplicaRow,
    SiteRow,
    TenantRow,
)
from failover.controller.engine import MoveResult
from failover.coordination.interface import CoordinationUnavailable
from replication.node import ReplicationNode
from replication.protocol.client import PeerClient, PeerError
from replication.protocol.endpoints import PREFIX, SignedSite, parsed
from replication.protocol.wire import QuarantineOut, TenantStatus
from replication.replica import quarantine as quarantined
from replication.replica.receiver import quarantine_out
from yui.audit import service as audit
from yui.db.database import Database
from yui.errors import YuiError

log = logging.getLogger("assembly.console_platform")
#: how long the page waits for a primary's status before showing the lag as unknown
STATUS_TIMEOUT_SECONDS = 2.0
#: how long a move's audit entries wait for the new primary to take the tenant's writes
AUDIT_WAIT_SECONDS = 10.0
#: the most entries one signed audit request carries (an evacuation sends batches)
AUDIT_BATCH = 500
AUDIT_PATH = "/operator-audit"
NO_REPLICATION = "この拠点は複製を動かしていないため使えません / this site does not run replication"


class OperatorMove(BaseModel):
    """One move, for the audit log of its tenant."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=r"^[0-9]{6}$")
    actor: str = Field(min_length=1, max_length=100)
    action: str = Field(min_length=1, max_length=50)
    detail: dict[str, Any]


class OperatorAuditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    moves: list[OperatorMove] = Field(max_length=AUDIT_BATCH)


def record_operator_moves(db: Database, moves: Sequence[OperatorMove]) -> dict[str, str]:
    """Append each move to its tenant's audit log, each in the tenant's own unit of work
    (the write gate refuses a tenant this site is not the primary of). Returns the
    tenants not recorded, with why."""
    refused: dict[str, str] = {}
    for move in moves:
        try:
            with db.unit_of_work(move.tenant) as uow:
                audit.record(
                    uow.session,
                    actor=move.actor,
                    action=move.action,
                    subject_type="tenant",
                    subject_id=move.tenant,
                    detail=move.detail,
                )
                uow.commit()
        except YuiError as refusal:  # not the primary (yet, or any more): the caller retries
            refused[move.tenant] = refusal.detail
    return refused


def include_operator_audit(app: FastAPI, db: Database) -> None:
    """The signed endpoint another site's console calls to audit a move at this primary."""
    router = APIRouter(prefix=PREFIX, tags=["replication"])

    @router.post(
        AUDIT_PATH,
        summary="運用者の移動を監査ログへ / record operators' moves in the tenants' audit logs",
    )
    async def operator_audit(request: Request, source: SignedSite) -> dict[str, Any]:
        body = parsed(OperatorAuditIn.model_validate_json, await request.body())
        refused = await run_in_threadpool(record_operator_moves, db, body.moves)
        log.info(
            "operator moves from %s audited: %d, refused %d",
            source,
            len(body.moves) - len(refused),
            len(refused),
        )
        return {"refused": refused}

    app.include_router(router)


def _quarantined(entry: QuarantineOut) -> QuarantinedRow:
    return QuarantinedRow(**entry.model_dump())


def _drill_row(summary: Any) -> DrillRow:
    return DrillRow(
        name=summary.path.name,
        scenario=summary.scenario,
        target=summary.target,
        started_at=summary.started_at,
        ok=summary.ok,
        outcome=summary.outcome,
        counts=dict(summary.counts),
    )


def _unreadable_drill(name: str) -> DrillRow:
    """A saved run whose report cannot be read: listed, named by its folder, not passed."""
    _, _, scenario = name.partition("-")
    return DrillRow(
        name=name,
        scenario=scenario or "?",
        target="?",
        started_at=None,
        ok=False,
        outcome="報告を読めません / unreadable report",
    )


def _outcome(result: MoveResult, audited: bool | None = None) -> MoveOutcome:
    return MoveOutcome(
        ok=result.ok,
        tenant=result.tenant,
        source=result.source,
        target=result.target,
        reason=result.reason or "",
        pause_seconds=result.pause_seconds,
        audited=audited,
    )


class NodePlatform:
    def __init__(
        self,
        cluster: ClusterLink,
        replication: ReplicationNode | None,
        db: Database | None = None,
        drills: Path | None = None,
    ) -> None:
        self.cluster = cluster
        self.replication = replication
        self.db = db
        self.drills_dir = drills if drills is not None else ConsoleSettings().drills_dir

    def _client(self) -> PeerClient:
        if self.replication is None:
            raise PlatformRefused(NO_REPLICATION)
        return self.replication.client

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

    def tenant_codes(self) -> list[str]:
        return sorted(self.cluster.view.placements())

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

    async def switchover(self, tenant: str, target: str, *, operator: str) -> MoveOutcome:
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
        except (UnknownTenant, MoveRefused, CoordinationUnavailable) as refused:
            raise MoveNotAllowed(refused.detail) from None
        audited = await self._audit([result], operator, "platform.switchover", {})
        return _outcome(result, audited.get(tenant))

    # ------------------------------------------------------------------ evacuation

    async def plan_evacuation(self, site: str) -> list[tuple[str, str | None]]:
        from failover.controller.moves import plan_evacuation

        try:
            return await plan_evacuation(self.cluster.coordination, site)
        except CoordinationUnavailable as unreachable:
            raise MoveNotAllowed(unreachable.detail) from None

    async def evacuate(self, site: str, *, reason: str, operator: str) -> EvacuationOutcome:
        from failover.controller.moves import request_evacuation

        if self.replication is None:
            raise MoveNotAllowed(NO_REPLICATION)
        if site not in {row.name for row in self.sites()}:
            raise MoveNotAllowed(f"拠点 {site} はありません / there is no site {site}")
        try:
            evacuation = await request_evacuation(
                self.cluster.coordination,
                self.replication.client,
                site,
                f"{reason} (運用者 / operator: {operator}, console: {self.cluster.site})",
            )
        except CoordinationUnavailable as unreachable:  # before any move: nothing changed
            raise MoveNotAllowed(unreachable.detail) from None
        audited = await self._audit(
            evacuation.results,
            operator,
            "platform.evacuation",
            {"evacuated_site": site, "reason": reason},
        )
        return EvacuationOutcome(
            site=site,
            reason=reason,
            moved=tuple(_outcome(r, audited.get(r.tenant)) for r in evacuation.moved),
            failed=tuple(_outcome(r, audited.get(r.tenant)) for r in evacuation.failed),
            seconds=evacuation.seconds,
            unaudited=tuple(sorted(t for t, done in audited.items() if not done)),
        )

    # ------------------------------------------------------------------ audit of moves

    async def _audit(
        self,
        results: Sequence[MoveResult],
        operator: str,
        action: str,
        extra: dict[str, Any],
    ) -> dict[str, bool]:
        """Record each move in its tenant's audit log at the tenant's primary now; returns
        whether each was recorded (one that was not is in the node's log all the same)."""
        moves = {
            r.tenant: OperatorMove(
                tenant=r.tenant,
                actor=f"operator:{operator}"[:100],
                action=action,
                detail={
                    **extra,
                    "source": r.source,
                    "target": r.target,
                    "ok": r.ok,
                    "epoch": r.epoch,
                    "pause_seconds": r.pause_seconds,
                    "note": r.reason,  # why it did not move, or a note of the move
                    "console_site": self.cluster.site,
                },
            )
            for r in results
            if r.epoch is not None or not r.ok  # not a tenant that had moved already
        }
        asked = set(moves)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AUDIT_WAIT_SECONDS
        why: dict[str, str] = {}
        while True:
            try:
                placements, _ = await self.cluster.coordination.list_placements()
            except CoordinationUnavailable as unreachable:  # the moves are made: say so
                why.update(dict.fromkeys(moves, unreachable.detail))
                break
            by_site: dict[str, list[OperatorMove]] = defaultdict(list)
            for tenant, move in moves.items():
                placement = placements.get(tenant)
                if placement is None:
                    why[tenant] = "no placement"
                else:
                    by_site[placement.primary].append(move)
            for site, batch in by_site.items():
                for start in range(0, len(batch), AUDIT_BATCH):
                    part = batch[start : start + AUDIT_BATCH]
                    refused = await self._record_at(site, part)
                    why.update(refused)
                    for move in part:
                        if move.tenant not in refused:
                            del moves[move.tenant]
                            why.pop(move.tenant, None)
            unplaced = all(why.get(tenant) == "no placement" for tenant in moves)
            if not moves or unplaced or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)  # the new primary's view of etcd may be a moment behind
        for tenant in moves:
            log.warning("a move of %s is not in its audit log: %s", tenant, why.get(tenant, ""))
        return {tenant: tenant not in moves for tenant in asked}

    async def _record_at(self, site: str, moves: list[OperatorMove]) -> dict[str, str]:
        if site == self.cluster.site and self.db is not None:
            db = self.db
            return await anyio.to_thread.run_sync(lambda: record_operator_moves(db, moves))
        body = OperatorAuditIn(moves=moves).model_dump_json().encode()
        try:
            answer = await self._client().request(site, "POST", AUDIT_PATH, body=body)
        except (PeerError, PlatformRefused, httpx.HTTPError) as error:
            return {move.tenant: str(error) for move in moves}
        refused = json.loads(answer.content).get("refused", {})
        return {str(k): str(v) for k, v in refused.items()}

    # ------------------------------------------------------------------ quarantine

    async def quarantine(
        self, site: str, tenant: str, *, resolved: bool, offset: int, limit: int
    ) -> list[QuarantinedRow]:
        if site == self.cluster.site and self.db is not None:  # as `quarantine list` here
            db = self.db
            rows = await anyio.to_thread.run_sync(
                lambda: quarantined.listing(
                    db, tenant, include_resolved=resolved, offset=offset, limit=limit
                )
            )
            return [_quarantined(quarantine_out(site, row)) for row in rows]
        try:  # as `quarantine list --all-sites`: that site's signed endpoint
            entries = await self._client().quarantine(
                site, tenant, resolved, offset=offset, limit=limit
            )
        except (PeerError, httpx.HTTPError) as error:
            raise PlatformRefused(
                f"拠点 {site} から隔離の一覧を得られません / {site} did not give its "
                f"quarantine: {error}"
            ) from None
        return [_quarantined(entry) for entry in entries]

    async def quarantined_entry(self, site: str, tenant: str, entry_id: int) -> QuarantinedRow:
        offset, size = 0, 500
        while True:
            rows = await self.quarantine(site, tenant, resolved=True, offset=offset, limit=size)
            found = next((row for row in rows if row.id == entry_id), None)
            if found is not None:
                return found
            if len(rows) < size:
                raise PlatformRefused(
                    f"拠点 {site} に自治体 {tenant} の隔離エントリ {entry_id} はありません / "
                    f"{site} has no quarantined entry {entry_id} of {tenant}"
                )
            offset += size

    async def resolve_quarantined(
        self, site: str, tenant: str, entry_id: int, *, by: str, note: str
    ) -> QuarantinedRow:
        try:
            if site == self.cluster.site and self.db is not None:
                db = self.db  # quarantine.resolve, as `yui replication quarantine resolve`
                await anyio.to_thread.run_sync(
                    lambda: quarantined.resolve(db, entry_id, by, note, tenant)
                )
                return await self.quarantined_entry(site, tenant, entry_id)
            # the same, run at that site by its signed endpoint
            entry = await self._client().resolve_quarantined(site, tenant, entry_id, by, note)
        except YuiError as refusal:
            raise PlatformRefused(refusal.detail) from None
        except (PeerError, httpx.HTTPError) as error:
            raise PlatformRefused(
                f"拠点 {site} で解決できませんでした / {site} did not resolve it: {error}"
            ) from None
        return _quarantined(entry)

    # ------------------------------------------------------------------ drills, alerts

    def drills(self, *, offset: int, limit: int) -> tuple[list[DrillRow], int]:
        """The page's reports only: a soak leaves thousands, and the page shows 20."""
        from failover.drill.report import read_report, report_paths

        paths = report_paths(self.drills_dir)
        rows = []
        for path in paths[offset : offset + limit]:
            found = read_report(path.parent)
            rows.append(
                _unreadable_drill(path.parent.name) if found is None else _drill_row(found[0])
            )
        return rows, len(paths)

    def drill(self, name: str) -> tuple[DrillRow, dict[str, Any]] | None:
        from failover.drill.report import read_report

        folder = self.drills_dir / name
        if folder.parent != self.drills_dir or name in ("", ".", ".."):
            return None  # one folder of the drills, never a path elsewhere
        found = read_report(folder)
        if found is None:
            return None
        summary, report = found
        return _drill_row(summary), report

    def alerts(self, *, offset: int, limit: int) -> tuple[list[AlertRow], int]:
        from failover.alerts.received import count_received, received

        if self.db is None:
            return [], 0
        rows = received(self.db, offset=offset, limit=limit)
        return [AlertRow(**row) for row in rows], count_received(self.db)
