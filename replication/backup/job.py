"""The backup job (kind ``backup``): the tenant's log since the last backup, then a
snapshot when one is due, as two steps of a job that the primary's Celery worker runs
(``yui.jobs``). The schedule (``YUI_BACKUP_INTERVAL_SECONDS``) creates one job per
tenant and interval; ``yui backup create --wait`` enqueues one on demand.

Both steps act on S3, outside the database, so they are idempotent by construction: the
log segment is named by its seq range and a rerun starts after the last segment found;
the snapshot is named after the job (``yui/<tenant>/snapshot/job-<id>.snap``), so a
rerun after a crash overwrites the same object and its manifest.
"""

from __future__ import annotations

import uuid
from typing import Any

from replication.backup.archive import archive_log, backup_snapshot
from replication.backup.plan import BackupPlan
from replication.sql import reading
from replication.state import read
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.jobs import service
from yui.jobs.kinds import JobKind, Step, StepContext
from yui.jobs.models import DONE
from yui.tenancy.service import get_tenant

KIND = "backup"


def backup_kind(plan: BackupPlan) -> JobKind:
    def log_step(context: StepContext) -> dict[str, Any]:
        held, snapshot = archive_log(
            context.db, context.tenant, plan.master, plan.buckets, context.site
        )
        return {"held": held, "newest_snapshot": snapshot}

    def snapshot_step(context: StepContext) -> dict[str, Any]:
        before = context.results[0]
        held, newest = int(before["held"]), before["newest_snapshot"]
        due = newest is None or held - int(newest) > plan.snapshot_over
        if not (due or context.params.get("snapshot")):
            return {"held": held, "snapshot": None}
        made = backup_snapshot(
            context.db,
            context.tenant,
            plan.master,
            plan.buckets,
            context.site,
            key=f"job-{context.job_id}",
        )
        return {"held": max(held, made.last), "snapshot": made.name}

    return JobKind(
        name=KIND,
        steps=lambda _params: [
            Step("log", log_step, external=True),
            Step("snapshot", snapshot_step, external=True),
        ],
    )


def enqueue_backup(db: Database, tenant: str, site: str) -> uuid.UUID:
    """An on-demand backup job (always with a snapshot). Only at the tenant's primary:
    a replica takes no write of its own."""
    with reading(db.engine) as connection:
        state = read(connection, tenant)
    if state.role != "primary" and (state.head > 0 or state.applied_seq > 0):
        raise NotPrimary(
            f"{site} は {tenant} の主系ではありません。主系のサイトで実行してください / {site} is not "
            f"the primary of {tenant}: run this at its primary"
        )
    get_tenant(db, tenant)
    with db.unit_of_work(tenant) as uow:
        job = service.enqueue(uow, tenant, KIND, {"snapshot": True})
        uow.commit()
    return job.id


def held_by_backups(db: Database, tenant: str) -> int | None:
    """The highest seq the tenant's last finished backup job left in the buckets."""
    job = service.latest(db, tenant, KIND, state=DONE)
    if job is None or not job.results:
        return None
    return int(job.results[-1]["held"])
