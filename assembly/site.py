"""The composition root: builds a site node (one ASGI app) from its parts."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import MetaData

from assembly.cluster import ClusterLink
from assembly.console_platform import NodePlatform, include_operator_audit
from assembly.schema import SCHEMA_HISTORY
from console.app import mount_console
from failover.alerts.api import AlertIntake
from failover.alerts.api import build_router as build_alerts_router
from failover.alerts.settings import EvacuationSettings
from failover.alerts.trigger import EvacuationTrigger
from failover.controller.moves import BackgroundEvacuations, MoveTrigger
from replication.api import include as include_replication
from replication.node import ReplicationNode
from replication.primary.acks import ReplicationAcks
from replication.protocol.forwarding import ForwardSignatures
from residents.directory.service import Directory
from safety_check.campaigns.alerts import on_hazard_alert
from safety_check.reports.signs_of_life import on_shelter_check_in
from yui.audit.api import router as audit_router
from yui.auth.api import router as auth_router
from yui.auth.ratelimit import login_limiter
from yui.db.base import Base
from yui.db.context import WriteGate
from yui.db.database import Database
from yui.events import BUS, HazardAlertReceived, ShelterCheckedIn
from yui.heap import freeze_start_up_heap
from yui.http import problems
from yui.http.deps import SiteContext, metrics_scraper
from yui.http.gateway import MARKERS as FORWARD_MARKS
from yui.http.gateway import Gateway, RouteLookup, SiteSignatures
from yui.http.middleware import BodyLimit, RequestContext
from yui.http.peer_certificates import RequirePeerCertificate
from yui.http.proxies import TrustedProxies, parse_networks
from yui.http.route_tables import build_route_tables
from yui.jobs.kinds import DEMO, JobKinds
from yui.settings import Settings
from yui.stall_watch import LoopStallWatch
from yui.tenancy.api import router as tenancy_router

if TYPE_CHECKING:
    from yui.jobs.worker import Schedule

API_PREFIX = "/api/v1/{tenant}"
#: error statuses every operation may answer, all as problem+json
#: 504: a write forwarded to the primary whose answer did not come in time (yui.http.gateway)
DOCUMENTED_ERRORS = (400, 401, 403, 404, 409, 413, 422, 429, 503, 504)
#: the site-to-site paths (replication's endpoints): no body limit; mutual TLS when served over TLS
SITE_TO_SITE_PATHS = ("/replication/",)


def all_metadata() -> MetaData:
    """Every table of every part, for migrations (importing the models registers them)."""
    import failover.alerts.received
    import failover.drill.models  # noqa: F401
    import replication.models  # noqa: F401
    import residents.models  # noqa: F401
    import safety_check.models  # noqa: F401
    import supplies.models  # noqa: F401
    import yui.audit.models
    import yui.auth.models
    import yui.changelog.models
    import yui.jobs.models
    import yui.tenancy.models  # noqa: F401

    return Base.metadata


def service_routers() -> list[APIRouter]:
    """The routers mounted under /api/v1/{tenant}, the busiest first: routes are matched
    in order (~10 us a candidate), and no path of one router matches another's. Citizens'
    safety reports lead (a disaster's hot path), then the drills' probe writes, sign-in,
    the registry and supplies (staff), and the kernel's administration last."""
    from failover.drill.probe_api import router as drill_probe_router
    from residents.api import router as residents_router
    from safety_check.api import router as safety_check_router
    from supplies.api import router as supplies_router
    from yui.jobs.api import router as jobs_router

    return [
        safety_check_router,
        drill_probe_router,
        auth_router,
        residents_router,
        supplies_router,
        jobs_router,
        audit_router,
        tenancy_router,
    ]


def safety_check_public_router() -> APIRouter:
    """Safety confirmation's routes at the site's root (the citizens' search)."""
    from safety_check.api import public_router

    return public_router


def job_kinds(settings: Settings) -> JobKinds:
    """Every kind of background job this site's worker runs (yui.jobs)."""
    from assembly.supplies_exchange import exchange_kind
    from replication.backup.job import backup_kind
    from replication.backup.plan import backup_plan
    from safety_check.campaigns.jobs import RELEASE_HOLDS
    from safety_check.outreach.service import outreach_kind, reminders_kind, starter_kind
    from safety_check.outreach.setup import outreach_from_settings

    kinds = JobKinds()
    kinds.register(DEMO)
    from safety_check.subscriptions.setup import subscription_kinds

    for kind in subscription_kinds(settings, Directory):  # a subscriber's e-mails
        kinds.register(kind)
    exchange = exchange_kind(settings)
    if exchange is not None:  # deliveries between municipalities (relief supplies)
        kinds.register(exchange)
    kinds.register(RELEASE_HOLDS)
    plan = backup_plan(settings)
    if plan is not None:
        kinds.register(backup_kind(plan))
    outreach = outreach_from_settings(settings)
    if outreach is not None:  # the site has a channel to reach people through
        kinds.register(outreach_kind(outreach))
        kinds.register(reminders_kind(outreach))
        kinds.register(starter_kind(outreach, Directory))  # alerts' campaigns, once open
    return kinds


def job_schedules(settings: Settings) -> list[Schedule]:
    """The periodic jobs of every tenant this site is primary of: a backup every
    YUI_BACKUP_INTERVAL_SECONDS when backup targets are set; the end of safety
    confirmation's false-alarm holds, only when one has passed."""
    from replication.backup.job import KIND as BACKUP
    from safety_check.campaigns import jobs as safety_jobs
    from safety_check.outreach.service import REMINDERS, STARTS, reminders_due, starts_due
    from safety_check.outreach.setup import has_channel, reminder_check_seconds
    from yui.jobs.worker import Schedule

    schedules = [Schedule(safety_jobs.KIND, safety_jobs.EVERY_SECONDS, when=safety_jobs.holds_due)]
    if settings.backup_targets and settings.backup_interval_seconds > 0:
        schedules.append(Schedule(BACKUP, settings.backup_interval_seconds))
    if has_channel():  # safety confirmation's fan-out, each a job only when there is work:
        # an alert's campaign that has opened (its hold ended) is sent to at once
        schedules.append(Schedule(STARTS, safety_jobs.EVERY_SECONDS, when=starts_due))
        every = reminder_check_seconds()
        if every > 0:  # reminders to non-responders
            schedules.append(Schedule(REMINDERS, every, when=reminders_due))
    return schedules


def create_app(
    settings: Settings,
    database: Database | None = None,
    *,
    migrate: bool = True,
    route_lookup: RouteLookup | None = None,
    write_gate: WriteGate | None = None,
    cluster: ClusterLink | None = None,
    replication: ReplicationNode | None = None,
    alerts: AlertIntake | None = None,
    signatures: SiteSignatures | None = None,
    serving: bool = False,
    closing: Sequence[Callable[[], Awaitable[None] | None]] = (),
) -> FastAPI:
    """The site node. Without a cluster link (no etcd) it serves every tenant itself;
    without a replication node it ships nothing and takes no shipped entries. ``serving``:
    a node about to serve builds its route tables before its first request (tests leave
    them lazy); ``closing`` runs when the app shuts down, after replication and the
    cluster link have stopped."""
    if cluster is not None:
        route_lookup, write_gate = cluster.route, cluster.write_gate
        if replication is not None:
            cluster.local_lag = replication.receiver.lag.lag  # replica reads state their lag
            cluster.holds_copy = replication.holds_copy
    if replication is not None and signatures is None:
        # Forwards are signed with the site's replication key: trusted sites only.
        signatures = ForwardSignatures(replication.client.key, replication.trust)
    db = database or Database(settings.effective_database_url)
    if replication is not None:
        write_gate = _both(write_gate, replication.write_gate)
    if write_gate is not None:
        db.write_gate = write_gate
    if migrate:
        db.migrate(SCHEMA_HISTORY)
    registry = CollectorRegistry()
    Gauge("yui_site_info", "this site", ["site"], registry=registry).labels(settings.site).set(1)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if serving:
            await build_route_tables(_app)
        if cluster is not None:
            await cluster.start()
        if replication is not None:
            await replication.start()
        # after the start-up work, which may hold the loop a while on purpose
        stall_watch = LoopStallWatch() if serving else None
        if stall_watch is not None:
            await stall_watch.start()
        if serving:
            freeze_start_up_heap()  # full collections no longer walk it (yui.heap)
        try:
            yield
        finally:
            if replication is not None:
                await replication.stop()
            if cluster is not None:
                await cluster.stop()
            for close in closing:
                if inspect.isawaitable(done := close()):
                    await done
            if database is None:
                db.dispose()
            if stall_watch is not None:
                await stall_watch.stop()

    app = FastAPI(
        title=f"Yui site node ({settings.site})",
        version="1",
        description="結 — 災害に強い自治体サービス基盤 / a disaster-resilient municipal platform",
        lifespan=lifespan,
    )
    app.state.yui = SiteContext(
        settings=settings,
        db=db,
        limiter=login_limiter(
            settings.login_max_failures, settings.login_window_seconds, settings.redis_url
        ),
        signing_key=settings.signing_key(),
    )
    # the registry as safety confirmation reads it (the kernel's ResidentDirectory port)
    app.state.resident_directory = Directory(db)
    # the sites this one trusts, for deliveries between municipalities (supplies.exchange)
    app.state.site_signatures = signatures
    # a check-in at a shelter is a sign of life for safety confirmation (its unit of work)
    BUS.subscribe(ShelterCheckedIn, on_shelter_check_in)
    problems.install(app)
    # Routes are matched in the order they are included, each candidate in turn (~10 us
    # each, ~250 of them): the hot paths first. The probes, then site-to-site replication
    # (every acknowledged write), then the API; the console, paced by people, last.
    _include_operations(app, settings, db, registry, cluster)
    if replication is not None:
        include_replication(app, replication)
        include_operator_audit(app, db)  # another site's console audits a move here
    for router in service_routers():
        app.include_router(router, prefix=API_PREFIX)
    # one alert intake, two consumers: the evacuation decision, and (through the kernel's
    # event, at each tenant's primary) safety confirmation's campaigns
    BUS.subscribe(HazardAlertReceived, on_hazard_alert)
    intake = alerts or alert_intake(settings)
    if intake.database is None:
        intake = replace(
            intake,
            database=db,
            primaries=primary_tenants(settings, db, cluster),
            site=settings.site,
        )
    app.include_router(build_alerts_router(intake))
    app.include_router(safety_check_public_router())
    if cluster is not None:
        # the citizens' search asks every municipality the platform serves, not only ours
        app.state.platform_tenants = lambda: list(cluster.view.placements())
    # the staff console and the citizens' pages: every site serves them (console/)
    mount_console(
        app,
        site=settings.site,
        signing_key=app.state.yui.signing_key,
        platform=NodePlatform(cluster, replication, db) if cluster is not None else None,
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = problems.document_problems(schema, DOCUMENTED_ERRORS)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if replication is not None:  # innermost: holds each answer until its writes replicate
        app.add_middleware(ReplicationAcks, wait=replication.wait_replicated)
    if route_lookup is not None:
        app.add_middleware(Gateway, site=settings.site, lookup=route_lookup, signatures=signatures)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        exempt_prefixes=SITE_TO_SITE_PATHS if replication is not None else (),
    )
    if settings.tls_files is not None:  # mutual TLS for replication and forwards (not the API)
        app.add_middleware(
            RequirePeerCertificate, prefixes=SITE_TO_SITE_PATHS, headers=FORWARD_MARKS
        )
    # Outside the gateway: a forward carries the client's address, not the proxy's.
    app.add_middleware(TrustedProxies, networks=parse_networks(settings.trusted_proxies))
    app.add_middleware(
        RequestContext, registry=registry, site=settings.site, routes=app.router.routes
    )
    return app


def _include_operations(
    app: FastAPI,
    settings: Settings,
    db: Database,
    registry: CollectorRegistry,
    cluster: ClusterLink | None,
) -> None:
    """Liveness, readiness and metrics: what the controller's probes and the scrapers read."""

    # async: answered on the event loop, not in the worker threads a saturated site has all
    # busy; the controller's probes read it, and a busy site is not a lost one
    @app.get("/healthz", tags=["operations"], summary="生存確認 / liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "site": settings.site}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="準備完了 / readiness",
        responses={503: {"description": "not ready"}},
    )
    def readyz() -> JSONResponse:
        checks = {
            "database": _safe(db.ping),
            "migrations": _safe(lambda: db.at_head(SCHEMA_HISTORY)),
        }
        ready = all(checks.values())
        if cluster is not None:
            # Informational: a site stays ready while etcd is down (static stability).
            checks["etcd"] = cluster.view.connected
            checks["lease"] = cluster.holds_lease
        return JSONResponse(
            {"ready": ready, "site": settings.site, "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics (bearer YUI_METRICS_TOKEN)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
        dependencies=[Depends(metrics_scraper)],
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def alert_intake(
    settings: Settings, trigger: Callable[[], EvacuationTrigger] | None = None
) -> AlertIntake:
    """The alert endpoint's parts from the settings: the sites of the topology (none without
    one: every alert then decides "no site covered"), the evacuation rules, the token."""
    topology = settings.topology
    token = settings.alert_intake_token
    return AlertIntake(
        sites=topology.sites if topology is not None else (),
        settings=EvacuationSettings(),
        token=token.get_secret_value() if token is not None else None,
        trigger=trigger,
        drill_mode=settings.evacuation_drill_mode,
    )


def primary_tenants(
    settings: Settings, db: Database, cluster: ClusterLink | None
) -> Callable[[], set[str]]:
    """The tenants this site is the primary of now: the placements' (with a cluster), or
    every tenant it holds (a lone site). The write gate still checks each commit."""
    if cluster is not None:
        view = cluster.view
        return lambda: {t for t, p in view.placements().items() if p.primary == settings.site}

    def every_tenant() -> set[str]:
        from yui.tenancy.service import list_tenants

        return {tenant.tenant_id for tenant in list_tenants(db)}

    return every_tenant


def _both(first: WriteGate | None, second: WriteGate) -> WriteGate:
    if first is None:
        return second

    def gate(tenant: str) -> None:
        first(tenant)
        second(tenant)

    return gate


def build_node(settings: Settings) -> FastAPI:
    """A whole site node from its settings: with etcd, it joins the cluster; with a trust
    file, it replicates; with both, it is also a failover controller candidate."""
    from assembly.cluster import EtcdPlacements
    from replication.setup import node_from_settings, topology_peers
    from yui.settings import check_peer_urls
    from yui.tls import use_for_peers

    check_peer_urls(settings)
    use_for_peers(settings.tls_files)  # every call to another site: the CA, our certificate
    db = Database(settings.effective_database_url)
    cluster = ClusterLink(settings) if settings.etcd_endpoint_list else None
    replication = None
    if cluster is not None:
        replication = node_from_settings(
            settings, db, EtcdPlacements(cluster), topology_peers(settings)
        )
        if replication is not None:
            cluster.copies = replication.client
            node = replication
            cluster.view.subscribe(lambda _event: node.placements_changed())
    evacuations = None
    if cluster is not None and replication is not None:
        # Alerts pushed to this node evacuate through the same moves as the CLI.
        evacuations = BackgroundEvacuations(MoveTrigger(cluster.coordination, replication.client))
    # (FastAPI runs no on_shutdown handler beside a lifespan: these go through create_app)
    closing: list[Callable[[], Awaitable[None] | None]] = []
    if evacuations is not None:
        closing.append(evacuations.close)
    closing.append(db.dispose)
    return create_app(
        settings,
        db,
        cluster=cluster,
        replication=replication,
        alerts=alert_intake(settings, trigger=(lambda: evacuations) if evacuations else None),
        serving=True,
        closing=closing,
    )


def _safe(check: Any) -> bool:
    try:
        return bool(check())
    except Exception:
        return False
