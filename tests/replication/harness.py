"""Several site nodes in one process, each with its own database, talking over
httpx.ASGITransport through a router that can take a site down or slow it."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from replication.entries import LOG
from replication.models import QuarantinedEntry
from replication.node import ReplicationNode
from replication.ports import StaticPeers, TenantPlacement
from replication.primary import acks
from replication.primary.config import ReplicationConfig
from replication.primary.tenant import NotEnoughInSync
from replication.protocol.client import PeerClient
from replication.protocol.signing import SiteKey, TrustStore, generate_key
from replication.sql import reading
from replication.state import CopyState, read
from replication.verify.digest import tenant_digest
from tests.conftest import TEST_SECRET
from tests.replication.memory import MemoryPlacements
from yui.audit import service as audit
from yui.auth.models import StaffUser
from yui.db.database import Database
from yui.settings import load_settings
from yui.tenancy.service import create_tenant

SENDAI = "041009"
#: how long a site may take to stop before the test fails with its tasks' stacks
STOP_WITHIN = 30.0
QUARANTINE = QuarantinedEntry.__table__
FAST = ReplicationConfig(
    ack_timeout=1.5,
    heartbeat_seconds=0.2,
    backoff_min=0.01,
    backoff_max=0.2,
    upkeep_seconds=0.05,
    request_timeout=10.0,
)


class Router(httpx.AsyncBaseTransport):
    """Routes a request by host name to that site's app; faults per site: ``down`` (no
    answer), ``isolated`` (neither reaches nor is reached by another site), ``delay``."""

    def __init__(self, source: str | None = None, shared: Router | None = None) -> None:
        self.source = source
        self.shared = shared or self
        if shared is None:
            self.apps: dict[str, httpx.ASGITransport] = {}
            self.down: set[str] = set()
            self.isolated: set[str] = set()
            self.delay: dict[str, float] = {}
            #: requests delivered, by (host, path)
            self.delivered: Counter[tuple[str, str]] = Counter()
            #: (host, path, body) of every request delivered, once a test sets it to a list
            self.bodies: list[tuple[str, str, bytes]] | None = None

    def view(self, source: str) -> Router:
        """The same network, as seen from ``source``."""
        return Router(source, self)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        net, host = self.shared, request.url.host
        cut = bool(net.isolated & {host, self.source}) and self.source != host
        if host in net.down or cut:
            raise httpx.ConnectError(
                f"{host} unreachable from {self.source} (test)", request=request
            )
        if net.delay.get(host):
            await asyncio.sleep(net.delay[host])
        if host in net.down:
            raise httpx.ConnectError(f"{host} went down (test)", request=request)
        net.delivered[(host, request.url.path)] += 1
        if net.bodies is not None:
            net.bodies.append((host, request.url.path, await request.aread()))
        return await net.apps[host].handle_async_request(request)


@dataclass
class Site:
    name: str
    db: Database
    key: SiteKey
    node: ReplicationNode
    app: FastAPI

    def state(self, tenant: str = SENDAI) -> CopyState:
        with reading(self.db.engine) as connection:
            return read(connection, tenant)

    def log_bounds(self, tenant: str = SENDAI) -> tuple[int | None, int | None]:
        with reading(self.db.engine) as connection:
            low, high = connection.execute(
                select(func.min(LOG.c.seq), func.max(LOG.c.seq)).where(LOG.c.tenant_id == tenant)
            ).one()
        return low, high

    def quarantined(self, tenant: str = SENDAI) -> int:
        with reading(self.db.engine) as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(QUARANTINE)
                    .where(QUARANTINE.c.tenant_id == tenant)
                ).scalar_one()
            )

    def digest(self, tenant: str = SENDAI) -> str:
        return tenant_digest(self.db, tenant).digest


@dataclass
class Cluster:
    urls: dict[str, str]
    tmp_path: Path
    config: ReplicationConfig = FAST
    placements: MemoryPlacements = field(default_factory=MemoryPlacements)
    router: Router = field(default_factory=Router)
    sites: dict[str, Site] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = {name: SiteKey(name, generate_key()) for name in self.urls}
        trust = TrustStore.from_mapping({name: key.public_key_b64 for name, key in keys.items()})
        peers = StaticPeers({name: f"http://{name}" for name in self.urls})
        self.clients = {
            name: httpx.AsyncClient(transport=self.router.view(name), timeout=30.0)
            for name in [*self.urls, "controller"]
        }
        for name, url in self.urls.items():
            db = Database(url)
            db.migrate(SCHEMA_HISTORY)
            settings = load_settings(
                site=name,
                data_dir=self.tmp_path / name,
                database_url=url,
                token_secret=TEST_SECRET,
                log_json=False,
            )
            node = ReplicationNode(
                site=name,
                db=db,
                key=keys[name],
                trust=trust,
                placements=self.placements,
                peers=peers,
                config=self.config,
                http=self.clients[name],
            )
            app = create_app(settings, db, migrate=False, replication=node)
            _test_routes(app, db)
            self.router.apps[name] = httpx.ASGITransport(app=app)
            self.sites[name] = Site(name, db, keys[name], node, app)

    def __getitem__(self, name: str) -> Site:
        return self.sites[name]

    def client(self, as_site: str) -> PeerClient:
        """Signed requests as ``as_site`` (from outside the network's faults)."""
        peers = StaticPeers({n: f"http://{n}" for n in self.urls})
        return PeerClient(self[as_site].key, peers, self.clients["controller"])

    async def start(self) -> None:
        for site in self.sites.values():
            await site.node.start()

    async def stop(self) -> None:
        for site in self.sites.values():
            try:
                await asyncio.wait_for(site.node.stop(), STOP_WITHIN)
            except TimeoutError:  # a hang would stop the whole suite: fail with the stacks
                raise AssertionError(
                    f"{site.name} did not stop within {STOP_WITHIN} s; tasks:\n{_task_stacks()}"
                ) from None
        for client in self.clients.values():
            await client.aclose()
        for site in self.sites.values():
            site.db.dispose()

    def place(
        self,
        primary: str,
        replicas: tuple[str, ...],
        *,
        tenant: str = SENDAI,
        mode: str = "sync",
        min_insync: int = 1,
        in_sync: tuple[str, ...] | None = None,
        zones: Mapping[str, frozenset[str]] | None = None,
        min_insync_zones: int = 2,
    ) -> TenantPlacement:
        return self.placements.put(
            TenantPlacement(
                tenant=tenant,
                primary=primary,
                replicas=replicas,
                in_sync=replicas if in_sync is None else in_sync,
                mode=mode,  # type: ignore[arg-type]
                min_insync=min_insync,
                min_insync_zones=min_insync_zones,
                zones=dict(zones or {}),
            )
        )

    async def create_tenant(self, site: str, tenant: str = SENDAI, name: str = "仙台市") -> None:
        committed = await commit(
            self[site], lambda _db: create_tenant(self[site].db, tenant, name), tenant, wait=False
        )
        # The tenant's first write is the tests' set-up, not their subject: on a loaded
        # machine the replicas' first pulls can take longer than one ack timeout, so this
        # waits as a client retrying the 503 would, until the replicas hold it.
        for _ in range(10):
            try:
                await self[site].node.wait_replicated(committed)
                return
            except NotEnoughInSync:
                await asyncio.sleep(self.config.ack_timeout)
        await self[site].node.wait_replicated(committed)

    async def wait_for(
        self, condition: Callable[[], bool], within: float = 15.0, what: str = "condition"
    ) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not await anyio.to_thread.run_sync(condition):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def caught_up(self, *names: str, tenant: str = SENDAI, within: float = 15.0) -> None:
        """Wait until every named site applied what the primary holds."""
        primary = self.placements.placement(tenant)
        assert primary is not None
        head = self[primary.primary].state(tenant).head
        await self.wait_for(
            lambda: all(self[n].state(tenant).applied_seq >= head for n in names),
            within,
            f"{names} to apply up to {head}",
        )


def _task_stacks() -> str:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=8, file=out)
    return out.getvalue()


async def commit(
    site: Site, work: Callable[[Database], Any], tenant: str = SENDAI, *, wait: bool = True
) -> list[tuple[str, int]]:
    """Run ``work`` in a worker thread as a request would; then wait for replication."""
    placement = site.node.placements.placement(tenant)
    if placement is not None and placement.primary == site.name:
        # as a client retries a 503 "taking over": the node takes the tenant over first
        for _ in range(750):
            if tenant in site.node.primaries:
                break
            await asyncio.sleep(0.02)
    committed: list[tuple[str, int]] = []
    token = acks.COMMITTED.set(committed)
    try:
        await anyio.to_thread.run_sync(work, site.db)
    finally:
        acks.COMMITTED.reset(token)
    if wait:
        await site.node.wait_replicated(committed)
    return committed


def write_audit(
    tenant: str = SENDAI, count: int = 1, actor: str = "test"
) -> Callable[[Database], None]:
    def work(db: Database) -> None:
        with db.unit_of_work(tenant) as uow:
            for index in range(count):
                audit.record(
                    uow.session,
                    actor=actor,
                    action="test.write",
                    subject_type="test",
                    subject_id=str(index),
                    detail={"index": index, "text": "避難所 ✓"},
                )
            uow.commit()

    return work


def add_user(username: str, tenant: str = SENDAI) -> Callable[[Database], str]:
    def work(db: Database) -> str:
        with db.unit_of_work(tenant) as uow:
            user = StaffUser(username=username, password_hash="x", roles=["staff"])
            uow.session.add(user)
            uow.commit()
            return user.id

    return work


def rename_user(username: str, display: str, tenant: str = SENDAI) -> Callable[[Database], None]:
    def work(db: Database) -> None:
        with db.unit_of_work(tenant) as uow:
            user = uow.session.execute(
                select(StaffUser).where(StaffUser.username == username)
            ).scalar_one()
            user.display_name = display
            uow.commit()

    return work


def delete_user(username: str, tenant: str = SENDAI) -> Callable[[Database], None]:
    def work(db: Database) -> None:
        with db.unit_of_work(tenant) as uow:
            user = uow.session.execute(
                select(StaffUser).where(StaffUser.username == username)
            ).scalar_one()
            uow.session.delete(user)
            uow.commit()

    return work


def _test_routes(app: FastAPI, db: Database) -> None:
    @app.post("/test/{tenant}/audit")
    def write(tenant: str, count: int = 1) -> dict[str, int]:
        write_audit(tenant, count)(db)
        return {"written": count}
