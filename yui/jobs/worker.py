"""The Celery worker of one site: runs the jobs of the tenants this site is primary of.

- Broker: the site's own Redis (``YUI_REDIS_URL``). Nothing in Redis must survive: the
  jobs are rows in the tenants' replicated data, and Redis only says which job is in
  flight here (a lease that expires when the worker dies).
- The **dispatcher** (a thread of the worker process, every ``YUI_JOBS_DISPATCH_SECONDS``)
  sends a task for every unfinished job of every tenant this site is primary of, unless
  one is in flight, and creates the periodic jobs (backups) when they are due. After a
  failover, the new primary's dispatcher finds the jobs the old primary left unfinished
  (they replicated with their last recorded step) and runs them from that step.
- The **fence**: the worker's database refuses a commit for a tenant that this site is
  not the primary of now (``yui.db.fencing``): a worker at a deposed primary cannot
  record a step.

The composition root (``yui jobs worker``) builds the `Runtime`: which tenants are
primary here (the etcd placements, or every tenant on a lone site), the job kinds and
the schedules.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery import Celery

from yui.db.context import WriteGate
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.errors import YuiError
from yui.jobs import service
from yui.jobs.kinds import JobKinds
from yui.jobs.models import QUEUED
from yui.jobs.runner import Outcome, run_job

log = logging.getLogger("yui.jobs")

TASK = "yui.jobs.run"
QUEUE = "yui-jobs"

#: the tenants this site is primary of now (asked often: answer from memory)
PrimaryTenants = Callable[[], Collection[str]]


@dataclass(frozen=True)
class Schedule:
    """A job of ``kind`` for every tenant this site is primary of, every ``every_seconds``."""

    kind: str
    every_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    #: asked (with the site's database and the tenant) before a job is made: None makes
    #: one every period; a predicate makes one only when there is work (no idle rows)
    when: Callable[[Database, str], bool] | None = None


@dataclass
class Runtime:
    site: str
    db: Database
    kinds: JobKinds
    primaries: PrimaryTenants
    redis_url: str
    schedules: Sequence[Schedule] = ()
    #: how long a job stays "in flight" without a sign of life from its worker
    lease_seconds: float = 30.0
    dispatch_seconds: float = 1.0


def fence(primaries: PrimaryTenants, site: str) -> WriteGate:
    """The worker's write gate: only the tenants this site is primary of now."""

    def gate(tenant: str) -> None:
        if tenant not in primaries():
            raise NotPrimary(
                f"{site} は {tenant} の主系ではありません。ジョブは主系で実行されます / "
                f"{site} is not the primary of {tenant}: its jobs run at the primary"
            )

    return gate


class Leases:
    """Which jobs are in flight at this site, in its Redis: ``sent`` while a task waits
    in the queue, ``run`` (with the runner's token) while one runs. Both expire."""

    def __init__(self, client: redis.Redis, seconds: float) -> None:
        self.client = client
        self.ms = int(seconds * 1000)

    @staticmethod
    def _key(what: str, job_id: str) -> str:
        return f"yui:jobs:{what}:{job_id}"

    def in_flight(self, job_id: str) -> bool:
        return bool(self.client.exists(self._key("sent", job_id), self._key("run", job_id)))

    def mark_sent(self, job_id: str) -> bool:
        return bool(self.client.set(self._key("sent", job_id), "1", nx=True, px=self.ms))

    def take(self, job_id: str, token: str) -> bool:
        taken = bool(self.client.set(self._key("run", job_id), token, nx=True, px=self.ms))
        if taken:
            self.client.delete(self._key("sent", job_id))
        return taken

    def holds(self, job_id: str, token: str) -> bool:
        value = self.client.get(self._key("run", job_id))
        return value is not None and (value if isinstance(value, str) else value.decode()) == token

    def renew(self, job_id: str, token: str) -> None:
        if self.holds(job_id, token):
            self.client.pexpire(self._key("run", job_id), self.ms)

    def release(self, job_id: str, token: str) -> None:
        if self.holds(job_id, token):
            self.client.delete(self._key("run", job_id))


app = Celery("yui", set_as_current=False)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=False,  # a lost task is sent again by the dispatcher, from the rows
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_runtime: Runtime | None = None


def _current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the jobs worker runs through `yui jobs worker`")
    return _runtime


def run_one(runtime: Runtime, leases: Leases, tenant: str, job_id: str) -> Outcome | None:
    """Run the job if no other run holds it here; keep its lease alive meanwhile."""
    token = uuid.uuid4().hex
    if not leases.take(job_id, token):
        return None
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(leases.ms / 3000):
            leases.renew(job_id, token)

    keeper = threading.Thread(target=keep_alive, name=f"lease {job_id}", daemon=True)
    keeper.start()
    try:
        return run_job(
            runtime.db,
            runtime.kinds,
            tenant,
            uuid.UUID(job_id),
            site=runtime.site,
            still_ours=lambda: tenant in runtime.primaries() and leases.holds(job_id, token),
        )
    finally:
        stop.set()
        keeper.join()
        leases.release(job_id, token)


def _task(tenant: str, job_id: str) -> str:
    runtime = _current()
    outcome = run_one(runtime, _leases(runtime), tenant, job_id)
    return outcome.state if outcome else "in-flight"


run_task = app.task(name=TASK, ignore_result=True)(_task)
_lease_clients: dict[str, Leases] = {}


def _leases(runtime: Runtime) -> Leases:
    leases = _lease_clients.get(runtime.redis_url)
    if leases is None:
        leases = Leases(redis.Redis.from_url(runtime.redis_url), runtime.lease_seconds)
        _lease_clients[runtime.redis_url] = leases
    return leases


# --------------------------------------------------------------------------- dispatcher


def _due(runtime: Runtime, tenant: str, schedule: Schedule, now: datetime) -> bool:
    last = service.latest(runtime.db, tenant, schedule.kind)
    if last is None:
        return True
    if last.state in (QUEUED, "running"):
        return False
    return last.created_at <= now - timedelta(seconds=schedule.every_seconds)


def create_scheduled(runtime: Runtime, tenant: str) -> list[uuid.UUID]:
    """The periodic jobs now due for the tenant, as rows (replicated like any job)."""
    now = datetime.now(UTC)
    made = []
    for schedule in runtime.schedules:
        if schedule.when is not None and not schedule.when(runtime.db, tenant):
            continue
        if schedule.every_seconds > 0 and _due(runtime, tenant, schedule, now):
            with runtime.db.unit_of_work(tenant) as uow:
                job = service.enqueue(uow, tenant, schedule.kind, schedule.params)
                uow.commit()
            log.info("tenant %s: scheduled %s job %s", tenant, schedule.kind, job.id)
            made.append(job.id)
    return made


def dispatch_once(
    runtime: Runtime, leases: Leases, send: Callable[[str, str], None] | None = None
) -> int:
    """One round: scheduled jobs created, unfinished jobs not in flight sent. Returns
    how many tasks were sent."""
    send = send or (lambda tenant, job_id: run_task.apply_async(args=[tenant, job_id]))
    sent = 0
    for tenant in sorted(runtime.primaries()):
        try:
            create_scheduled(runtime, tenant)
            for job in service.unfinished(runtime.db, tenant):
                job_id = str(job.id)
                retry_at = job.updated_at + timedelta(seconds=min(60, 2**job.attempts - 1))
                if job.attempts and retry_at > datetime.now(UTC):
                    continue
                if not leases.in_flight(job_id) and leases.mark_sent(job_id):
                    send(tenant, job_id)
                    sent += 1
        except YuiError as error:  # fenced meanwhile: no longer ours
            log.info("tenant %s: jobs not dispatched here: %s", tenant, error.detail)
    return sent


def dispatcher(runtime: Runtime, stop: threading.Event) -> None:
    leases = _leases(runtime)
    while not stop.wait(runtime.dispatch_seconds):
        try:
            dispatch_once(runtime, leases)
        except Exception:
            log.exception("job dispatch failed; trying again")


def serve(runtime: Runtime, *, concurrency: int = 2, loglevel: str = "INFO") -> None:
    """Run the worker (and its dispatcher) in this process until it is stopped."""
    global _runtime
    _runtime = runtime
    runtime.db.write_gate = fence(runtime.primaries, runtime.site)
    app.conf.broker_url = runtime.redis_url
    stop = threading.Event()
    thread = threading.Thread(
        target=dispatcher, args=(runtime, stop), name="dispatcher", daemon=True
    )
    thread.start()
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--loglevel={loglevel}",
                f"--hostname=yui-jobs@{runtime.site}",
                f"--queues={QUEUE}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        stop.set()
        thread.join(timeout=5)
