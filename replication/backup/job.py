"""The backup job (kind ``backup``): the tenant's log since the last backup, then a
snapshot when one is due, as two steps of a job that the primary's Celery worker runs
(``yui.jobs``). The schedule (``YUI_BACKUP_INTERVAL_SECONDS``) creates one job per
tenant and interval; ``yui backup create --wait`` enqueues one on demand.

Both steps act on S3, outside the database: they run again after a crash or a
failover between the upload and the step's marker, so they are idempotent. The log
segment is named by its seq range and epoch, and a rerun starts after the last segment
of its site's history; a snapshot's object is named by its hash and its manifest, last,
by its seq and the job's step (``context.effect_key``), so an attempt that overlaps
another leaves manifests that each name a whole object. Each upload is preceded by the
job's fence (``context.fence``): a deposed primary's step stops at its next upload.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from replication.backup.acked import NotOurs
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
T = TypeVar("T")


def backup_kind(plan: BackupPlan) -> JobKind:
    def log_step(context: StepContext) -> dict[str, Any]:
        held = _fenced(
            lambda: archive_log(
                context.db,
                context.tenant,
                plan.master,
                plan.buckets,
                context.site,
                fence=context.fence,
            )
        )
        return {"held": held.seq, "epoch": held.epoch, "newest_snapshot": held.newest_snapshot}

    def snapshot_step(context: StepContext) -> dict[str, Any]:
        before = context.results[0]
        held, newest = int(before["held"]), before["newest_snapshot"]
        due = newest is None or held - int(newest) > plan.snapshot_over
        if not (due or context.params.get("snapshot")):
            return {"held": held, "epoch": before.get("epoch"), "snapshot": None}
        made = _fenced(
            lambda: backup_snapshot(
                context.db,
                context.tenant,
                plan.master,
                plan.buckets,
                context.site,
                key=f"job-{context.effect_key.replace(':', '-')}",
                fence=context.fence,
            )
        )
        # A failover between the steps: only the new primary's own history counts.
        if made.epoch != before.get("epoch"):
            held = made.last
        return {"held": max(held, made.last), "epoch": made.epoch, "snapshot": made.name}

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


def held_by_backups(db: Database, tenant: str) -> tuple[int, int] | None:
    """(epoch, the highest seq) the tenant's last finished backup job left in the
    buckets, of the history of the primary that ran it in that epoch."""
    job = service.latest(db, tenant, KIND, state=DONE)
    if job is None or not job.results or "epoch" not in job.results[-1]:
        return None
    return int(job.results[-1]["epoch"]), int(job.results[-1]["held"])


def _fenced(work: Callable[[], T]) -> T:
    """A backup that finds this site no longer the primary stops as the job's fence
    does (the new primary's worker runs the step)."""
    try:
        return work()
    except NotOurs as error:
        raise NotPrimary(str(error)) from None
