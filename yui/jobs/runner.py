"""Running one job, step by step, from the step its row records.

Each step's database effects and its marker commit together (one unit of work). The
commit passes the site's write fence: at a site that is not the tenant's primary (a
deposed primary whose worker still runs) the commit is refused, nothing is recorded,
and the run stops — the new primary's worker runs the step instead.

An external step acts before any commit, so the check before it starts is not enough
(a long step outlives its primary): the step gets a fence to call before each effect,
which asks the same questions again — still ours here, the write gate, and the
tenant's write epoch unchanged since the step began (its fencing token).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, text

from yui.changelog.models import LogHead
from yui.db.database import Database
from yui.db.engine import READ_ONLY
from yui.db.fencing import NotPrimary
from yui.errors import InvalidInput, NotFound, Unavailable
from yui.jobs import service
from yui.jobs.kinds import JobKinds, StepContext
from yui.jobs.models import UNFINISHED

log = logging.getLogger("yui.jobs")

#: attempts before a job of a kind this site does not know is failed
UNKNOWN_KIND_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    state: str  # done | failed | queued (to retry) | fenced (not ours) | missing
    steps_run: int


def run_job(
    db: Database,
    kinds: JobKinds,
    tenant: str,
    job_id: uuid.UUID,
    *,
    site: str,
    still_ours: Callable[[], bool] = lambda: True,
) -> Outcome:
    """Run the job's remaining steps. ``still_ours`` is asked before each step (the
    worker's in-flight lease); the write fence guards each commit regardless."""
    ran = 0
    while True:
        with db.unit_of_work(tenant, read_only=True) as uow:
            try:
                job = service.get(uow, job_id)
            except NotFound:
                return Outcome("missing", ran)
            state, number, kind_name, attempts = job.state, job.step, job.kind, job.attempts
            params, results = dict(job.params), list(job.results)
        if state not in UNFINISHED:
            return Outcome(state, ran)
        if not still_ours():
            return Outcome("queued", ran)
        try:
            kind = kinds.get(kind_name)
        except InvalidInput as unknown:  # a kind this site cannot run: counted, then failed
            log.error("job %s: %s", job_id, unknown.detail)
            return _failed(db, tenant, job_id, number, unknown, UNKNOWN_KIND_ATTEMPTS, site, ran)
        steps = kind.steps(params)
        epoch = _write_epoch(db, tenant)
        fence = _Fence(db, tenant, epoch, still_ours, site)
        context = StepContext(
            db,
            tenant,
            job_id,
            params,
            results,
            site,
            step=number,
            attempt=attempts,
            epoch=epoch,
            fence=fence,
        )
        try:
            if number >= len(steps):  # a job whose last marker predates a shorter plan
                _record(db, tenant, job_id, number, None, last=True, site=site)
                continue
            step = steps[number]
            last = number == len(steps) - 1
            if step.external:
                result = step.run(context)
                _record(db, tenant, job_id, number, result, last=last, site=site)
            else:
                with db.unit_of_work(tenant) as uow:
                    job = service.get(uow, job_id, lock=True)
                    if job.step != number:
                        continue  # another run got there first: read again
                    result = step.run(replace(context, session=uow.session))
                    service.record_step(uow, job, number, result, last=last, site=site)
                    uow.commit()
            ran += 1
            log.info(
                "job %s (%s, %s): step %d/%d done",
                job_id,
                kind_name,
                tenant,
                number + 1,
                len(steps),
            )
        except service.StepAlreadyDone:
            continue
        except (NotPrimary, Unavailable) as fenced:
            log.warning("job %s: not run here: %s", job_id, fenced.detail)
            return Outcome("fenced", ran)
        except Exception as error:
            log.exception("job %s (%s): step %d failed", job_id, kind_name, number)
            return _failed(db, tenant, job_id, number, error, kind.max_attempts, site, ran)
        finally:
            fence.close()


#: the fence reads the epoch before every external effect (a fan-out: every message), so
#: a plain statement: half the cost of building the ORM select each time
_EPOCH = text(
    f"SELECT epoch FROM {LogHead.__tablename__} WHERE tenant_id = :tenant"  # noqa: S608 (ours)
)


def _read_epoch(connection: Connection, tenant: str) -> int:
    try:
        epoch = connection.execute(_EPOCH, {"tenant": tenant}).scalar_one_or_none()
    finally:
        connection.rollback()  # its own transaction: the next read sees every commit since
    return int(epoch) if epoch is not None else 0


def _reader(db: Database) -> Connection:
    # read-only: on SQLite a deferred BEGIN, which neither waits for nor takes the
    # database's write lock (a plain BEGIN IMMEDIATE would, before every message)
    return db.engine.connect().execution_options(**{READ_ONLY: True})


def _write_epoch(db: Database, tenant: str) -> int:
    with _reader(db) as connection:
        return _read_epoch(connection, tenant)


class _Fence:
    """The fence of one step (see the module's docstring), called before each effect,
    from any of the step's threads. Each thread reads the epoch on a connection of its
    own, kept until the step ends (a pooled connection taken and given back per message
    cost more than the read), each read in a transaction of its own."""

    def __init__(
        self, db: Database, tenant: str, epoch: int, still_ours: Callable[[], bool], site: str
    ) -> None:
        self.db, self.tenant, self.epoch, self.still_ours, self.site = (
            db,
            tenant,
            epoch,
            still_ours,
            site,
        )
        self._mine = threading.local()
        self._held: list[Connection] = []
        self._guard = threading.Lock()

    def __call__(self) -> None:
        if not self.still_ours():
            raise NotPrimary(
                f"{self.site} はこのジョブを実行していません / {self.site} no longer runs this job"
            )
        if self.db.write_gate is not None:
            self.db.write_gate(self.tenant)  # raises when this site is not the primary now
        now = self._read()
        if now != self.epoch:
            raise NotPrimary(
                f"{self.tenant} のエポックが {self.epoch} から {now} に変わりました / the epoch "
                f"of {self.tenant} moved from {self.epoch} to {now}: this step stops before "
                "its effect"
            )

    def _read(self) -> int:
        connection: Connection | None = getattr(self._mine, "connection", None)
        if connection is None:
            connection = self._mine.connection = _reader(self.db)
            with self._guard:
                self._held.append(connection)
        try:
            return _read_epoch(connection, self.tenant)
        except Exception:
            self._mine.connection = None  # a broken connection: the next read takes another
            raise

    def close(self) -> None:
        """Give the step's connections back (when the step has ended)."""
        with self._guard:
            held, self._held = self._held, []
        for connection in held:
            connection.close()


def _record(
    db: Database, tenant: str, job_id: uuid.UUID, number: int, result: Any, *, last: bool, site: str
) -> None:
    with db.unit_of_work(tenant) as uow:
        job = service.get(uow, job_id, lock=True)
        service.record_step(uow, job, number, result, last=last, site=site)
        uow.commit()


def _failed(
    db: Database,
    tenant: str,
    job_id: uuid.UUID,
    number: int,
    error: Exception,
    max_attempts: int,
    site: str,
    ran: int,
) -> Outcome:
    try:
        with db.unit_of_work(tenant) as uow:
            job = service.get(uow, job_id, lock=True)
            if job.step != number:
                return Outcome(job.state, ran)
            service.record_failure(
                uow, job, f"{type(error).__name__}: {error}", max_attempts=max_attempts, site=site
            )
            uow.commit()
            return Outcome(job.state, ran)
    except (NotPrimary, Unavailable):
        return Outcome("fenced", ran)
