"""Jobs are tenant rows: a job and each step it records reach the replicas, also when
the worker that wrote them is another process (its commits do not wake the primary's
streams; an idle stream's heartbeat finds them)."""

from __future__ import annotations

import pytest

from tests.replication.harness import SENDAI, Cluster, commit
from yui.db.database import Database
from yui.jobs import service
from yui.jobs.kinds import DEMO, JobKinds
from yui.jobs.runner import run_job

KINDS = JobKinds()
KINDS.register(DEMO)


def _job_at(db: Database, job_id: object) -> tuple[str, int] | None:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        jobs = {j.id: j for j in service.list_jobs(uow)}
    job = jobs.get(job_id)  # type: ignore[call-overload]
    return (job.state, job.step) if job else None


@pytest.mark.anyio
async def test_a_job_and_its_steps_appear_at_the_replicas(cluster: Cluster) -> None:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a = cluster["site-a"]
    made: list[object] = []

    def enqueue(db: Database) -> None:
        with db.unit_of_work(SENDAI) as uow:
            made.append(service.enqueue(uow, SENDAI, "demo", {"steps": 3}).id)
            uow.commit()

    await commit(a, enqueue)
    job_id = made[0]
    await cluster.caught_up("site-b", "site-c")
    assert _job_at(cluster["site-b"].db, job_id) == ("queued", 0)

    # The worker is another process: its own Database object, none of the node's hooks.
    worker_db = Database(a.db.url)
    try:
        run_job(worker_db, KINDS, SENDAI, job_id, site="site-a")  # type: ignore[arg-type]
    finally:
        worker_db.dispose()
    for site in ("site-b", "site-c"):
        await cluster.wait_for(
            lambda s=site: _job_at(cluster[s].db, job_id) == ("done", 3),  # type: ignore[misc]
            what=f"the finished job at {site}",
        )
    assert cluster["site-b"].digest() == a.digest()
