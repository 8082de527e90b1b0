"""`yui jobs list | show | worker`: a tenant's background jobs, and this site's worker."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Collection
from typing import Annotated, Any

import typer
from rich.table import Table

from assembly.cli.common import console, database, fail, settings
from assembly.schema import SCHEMA_HISTORY
from yui.db.database import Database
from yui.errors import NotFound
from yui.jobs import service
from yui.jobs.models import STATES, Job
from yui.settings import Settings

app = typer.Typer(help="バックグラウンドジョブ / background jobs", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="全国地方公共団体コード / tenant code")]


def _check_state(state: str | None) -> str | None:
    if state is not None and state not in STATES:
        choices = " | ".join(STATES)
        raise typer.BadParameter(f"状態は {choices} のいずれか / the state is one of {choices}")
    return state


def job_data(job: Job) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "tenant": job.tenant_id,
        "kind": job.kind,
        "state": job.state,
        "step": job.step,
        "attempts": job.attempts,
        "params": job.params,
        "results": job.results,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "site": job.site,
        "last_error": job.last_error,
    }


@app.command("list")
def list_jobs(
    tenant: TenantOption,
    state: Annotated[
        str | None, typer.Option(help="queued | running | done | failed", callback=_check_state)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """ジョブ一覧（新しい順）/ the tenant's jobs, newest first."""
    from yui.tenancy.service import get_tenant

    with database() as db:
        get_tenant(db, tenant)
        with db.unit_of_work(tenant, read_only=True) as uow:
            jobs = list(service.list_jobs(uow, state=state, limit=limit))
    if as_json:
        for job in jobs:
            console.print_json(json.dumps(job_data(job), ensure_ascii=False))
        return
    table = Table("id", "kind", "state", "step", "attempts", "site", "created", "error")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.kind,
            job.state,
            str(job.step),
            str(job.attempts),
            job.site or "",
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
            (job.last_error or "")[:60],
        )
    console.print(table)


@app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="ジョブID / job id")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="default: look in every tenant")
    ] = None,
) -> None:
    """ジョブの詳細 / one job: its steps' results, attempts and last error (JSON)."""
    from yui.tenancy.service import list_tenants

    try:
        wanted = uuid.UUID(job_id)
    except ValueError:
        raise fail(f"ジョブIDが正しくありません / not a job id: {job_id!r}", 2) from None
    with database() as db:
        codes = [tenant] if tenant else [t.tenant_id for t in list_tenants(db)]
        for code in codes:
            with db.unit_of_work(code, read_only=True) as uow:
                try:
                    found = service.get(uow, wanted)
                except NotFound:
                    continue
            console.print_json(json.dumps(job_data(found), ensure_ascii=False))
            return
    raise fail(f"ジョブ {job_id} はありません / no job {job_id}", 1)


# --------------------------------------------------------------------------- worker


class WatchedPrimaries:
    """The tenants this site is primary of, from the etcd placements (a watch in a
    thread of the worker) and, when replication runs, only those whose local copy has
    taken over as primary (its role and epoch, written by the site node's promotion).
    While etcd is unreachable the answer is empty: jobs wait (safe; never two sites)."""

    def __init__(self, config: Settings, db: Database) -> None:
        from assembly.cluster import timing_of
        from failover.coordination import connect_etcd

        self.site = config.site
        self.db = db
        self.replicated = config.replication_trust_file is not None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="etcd", daemon=True)
        self.thread.start()

        async def open_view() -> Any:
            coordination = connect_etcd(
                config.etcd_endpoint_list, timing=timing_of(config), tls=config.etcd_tls_files
            )
            view = coordination.cluster_view()
            await view.start()
            return view

        self.view = asyncio.run_coroutine_threadsafe(open_view(), self.loop).result(timeout=30)

    def __call__(self) -> Collection[str]:
        if not self.view.connected:
            return set()
        placed = {t for t, p in self.view.placements().items() if p.primary == self.site}
        if not self.replicated or not placed:
            return placed
        from replication.sql import reading
        from replication.state import all_states

        with reading(self.db.engine) as connection:
            taken = {
                s.tenant
                for s in all_states(connection)
                if s.role == "primary" and s.sealed_epoch <= s.write_epoch
            }
        return placed & taken


class EveryTenant:
    """A lone site (no etcd) is the primary of every tenant it holds."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self) -> Collection[str]:
        from yui.tenancy.service import list_tenants

        return {t.tenant_id for t in list_tenants(self.db)}


def _migrated(db: Database, within: float = 60.0) -> None:
    """The schema at head: the site node, started just before, may be migrating it."""
    deadline = time.monotonic() + within
    while True:
        try:
            if not db.at_head(SCHEMA_HISTORY):
                db.migrate(SCHEMA_HISTORY)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@app.command("worker")
def worker(
    concurrency: Annotated[int | None, typer.Option(help="default: YUI_JOBS_CONCURRENCY")] = None,
) -> None:
    """このサイトの Celery ワーカーを起動する / run this site's Celery worker (and its
    dispatcher) until stopped: it runs the jobs of the tenants this site is primary of."""
    from assembly.site import all_metadata, job_kinds, job_schedules
    from yui.jobs.worker import Runtime, serve
    from yui.logging import configure

    config = settings()
    if not config.redis_url:
        raise fail("YUI_REDIS_URL が必要です / the worker needs YUI_REDIS_URL (its broker)", 2)
    configure(config.site, config.log_level, config.log_json)
    all_metadata()
    db = Database(config.effective_database_url)
    _migrated(db)
    primaries = WatchedPrimaries(config, db) if config.etcd_endpoint_list else EveryTenant(db)
    runtime = Runtime(
        site=config.site,
        db=db,
        kinds=job_kinds(config),
        primaries=primaries,
        redis_url=config.redis_url,
        schedules=job_schedules(config),
        lease_seconds=config.jobs_lease_seconds,
        dispatch_seconds=config.jobs_dispatch_seconds,
    )
    serve(runtime, concurrency=concurrency or config.jobs_concurrency, loglevel=config.log_level)
