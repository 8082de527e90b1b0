"""Jobs as rows: enqueue, lock, record a step, record a failure, read.

Every write goes through the caller's unit of work, so it is change-logged (and
replicated) and passes the site's write fence: a worker at a site that is no longer the
tenant's primary cannot record a step.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from yui.db.database import Database
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, NotFound, Unavailable
from yui.jobs.models import DONE, FAILED, QUEUED, RUNNING, UNFINISHED, Job


class StepAlreadyDone(Conflict):
    """Another run recorded this step first; the caller re-reads the job."""

    slug = "job-step-done"
    title = "この手順は記録済みです / This step is already recorded"


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue(uow: UnitOfWork, tenant: str, kind: str, params: dict[str, Any]) -> Job:
    """A new queued job (the caller commits; the primary's worker picks it up)."""
    now = _now()
    job = Job(
        tenant_id=tenant,
        id=uuid.uuid4(),
        kind=kind,
        params=dict(params),
        state=QUEUED,
        step=0,
        results=[],
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(job)
    uow.session.flush()
    return job


def get(uow: UnitOfWork, job_id: uuid.UUID, *, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == job_id)
    if lock:
        query = query.with_for_update()
    job = uow.session.execute(query).scalar_one_or_none()
    if job is None:
        raise NotFound(f"ジョブ {job_id} はありません / no job {job_id}")
    return job


def record_step(
    uow: UnitOfWork, job: Job, step: int, result: Any, *, last: bool, site: str
) -> None:
    """Mark ``step`` done with its result, in the transaction that holds the step's own
    effects (the caller commits both at once). ``job`` was read with ``lock=True``."""
    if job.step != step or job.state not in UNFINISHED:
        raise StepAlreadyDone(f"job {job.id}: step {step} is already recorded")
    now = _now()
    job.results = [*job.results, result]
    job.step = step + 1
    job.attempts = 0
    job.state = DONE if last else RUNNING
    job.updated_at = now
    job.site = site
    job.last_error = None
    if last:
        job.finished_at = now


def record_failure(uow: UnitOfWork, job: Job, error: str, *, max_attempts: int, site: str) -> None:
    """Count a failed attempt of the current step; fail the job after ``max_attempts``."""
    now = _now()
    job.attempts += 1
    job.last_error = error[:4000]
    job.updated_at = now
    job.site = site
    if job.attempts >= max_attempts:
        job.state = FAILED
        job.finished_at = now
    else:
        job.state = QUEUED


def unfinished(db: Database, tenant: str) -> list[Job]:
    """The tenant's queued and running jobs, oldest first."""
    with db.unit_of_work(tenant, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(Job).where(Job.state.in_(UNFINISHED)).order_by(Job.created_at)
            ).scalars()
        )


def latest(db: Database, tenant: str, kind: str, *, state: str | None = None) -> Job | None:
    """The newest job of ``kind`` (in ``state`` when given)."""
    with db.unit_of_work(tenant, read_only=True) as uow:
        query = select(Job).where(Job.kind == kind)
        if state is not None:
            query = query.where(Job.state == state)
        return uow.session.execute(
            query.order_by(Job.created_at.desc()).limit(1)
        ).scalar_one_or_none()


def wait_finished(
    db: Database,
    tenant: str,
    job_id: uuid.UUID,
    *,
    timeout: float,
    progress: Callable[[Job], None] = lambda _job: None,
    poll: float = 0.25,
) -> Job:
    """Poll the job's row until it is done or failed (``progress`` sees each new step);
    raises `Unavailable` after ``timeout`` seconds (the job goes on)."""
    deadline = time.monotonic() + timeout
    seen = -1
    while True:
        with db.unit_of_work(tenant, read_only=True) as uow:
            job = get(uow, job_id)
        if job.step != seen:
            seen = job.step
            progress(job)
        if job.state in (DONE, FAILED):
            return job
        if time.monotonic() > deadline:
            raise Unavailable(
                f"ジョブ {job_id} は {timeout:.0f} 秒で終わりませんでした（続行中。`yui jobs show` で確認）"
                f" / job {job_id} did not finish within {timeout:.0f} s (it goes on: `yui jobs show`)"
            )
        time.sleep(poll)


def list_jobs(
    uow: UnitOfWork, *, state: str | None = None, kind: str | None = None, limit: int = 100
) -> Sequence[Job]:
    query = select(Job)
    if state is not None:
        query = query.where(Job.state == state)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return uow.session.execute(query.order_by(Job.created_at.desc()).limit(limit)).scalars().all()


__all__ = [
    "DONE",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "StepAlreadyDone",
    "enqueue",
    "get",
    "latest",
    "list_jobs",
    "record_failure",
    "record_step",
    "unfinished",
    "wait_finished",
]
