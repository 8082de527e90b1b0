"""The site's Celery worker as a real process (`yui jobs worker`) with a real Redis:
jobs run to done; a worker SIGKILLed in the middle of a job is replaced by another (the
new primary's) that resumes at the recorded step — no step lost, none done twice; a
tenant whose primary is elsewhere (etcd placements) has its jobs left alone, and a
worker whose site is deposed mid-job records no further step."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import TEST_SECRET
from tests.support.factories import SENDAI, tenant
from tests.support.servers import redis_server
from yui.audit.models import AuditEntry
from yui.db.database import Database
from yui.jobs import service


def _require(binary: str) -> None:
    import shutil

    if shutil.which(binary) is None:
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{binary} is required (YUI_REQUIRE_SERVERS=1)")
        pytest.skip(f"{binary} not installed")


@pytest.fixture
def redis_url() -> Iterator[str]:
    _require("redis-server")
    with redis_server() as url:
        yield url


class Worker:
    def __init__(self, tmp_path: Path, site: str, env: dict[str, str]) -> None:
        self.log = tmp_path / f"worker-{site}-{time.monotonic_ns()}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "assembly", "jobs", "worker"],
                env={
                    **os.environ,
                    "YUI_SITE": site,
                    "YUI_DATA_DIR": str(tmp_path / "data"),
                    "YUI_TOKEN_SECRET": TEST_SECRET,
                    "YUI_LOG_JSON": "false",
                    "YUI_JOBS_LEASE_SECONDS": "2",
                    "YUI_JOBS_DISPATCH_SECONDS": "0.2",
                    **env,
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(site: str = "site-a", **env: str) -> Worker:
        worker = Worker(tmp_path, site, env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def enqueue(
    db: Database, kind: str = "demo", tenant_code: str = SENDAI, **params: Any
) -> uuid.UUID:
    with db.unit_of_work(tenant_code) as uow:
        job = service.enqueue(uow, tenant_code, kind, params)
        uow.commit()
    return job.id


def job_of(db: Database, job_id: uuid.UUID, tenant_code: str = SENDAI) -> Any:
    with db.unit_of_work(tenant_code, read_only=True) as uow:
        return service.get(uow, job_id)


def wait_until(
    check: Callable[[], bool], worker: Worker, within: float = 30.0, what: str = "the job"
) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{worker.output()}")
        time.sleep(0.05)


def step_entries(db: Database, job_id: uuid.UUID) -> list[str]:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(AuditEntry.subject_id)
                .where(AuditEntry.subject_id.like(f"{job_id}:%"))
                .order_by(AuditEntry.n)
            ).scalars()
        )


def test_the_worker_runs_jobs_to_done(
    db: Database, database_url: str, redis_url: str, workers: Callable[..., Worker]
) -> None:
    _require("redis-server")
    tenant(db)
    first = enqueue(db, steps=3, pause=0.05)
    worker = workers(YUI_DATABASE_URL=database_url, YUI_REDIS_URL=redis_url)
    wait_until(lambda: job_of(db, first).state == "done", worker)
    second = enqueue(db, steps=2)  # a job enqueued while the worker runs
    wait_until(lambda: job_of(db, second).state == "done", worker)
    assert step_entries(db, first) == [f"{first}:{n}" for n in range(3)]
    assert [r["site"] for r in job_of(db, first).results] == ["site-a"] * 3


def test_a_killed_worker_s_job_resumes_at_its_recorded_step_on_the_next_worker(
    db: Database, database_url: str, redis_url: str, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    tenant(db)
    steps = 8
    job_id = enqueue(db, steps=steps, pause=0.4)
    old = workers("site-a", YUI_DATABASE_URL=database_url, YUI_REDIS_URL=redis_url)
    wait_until(lambda: job_of(db, job_id).step >= 2, old, what="two steps at site-a")
    old.kill()  # SIGKILL in the middle of the job (during a step's transaction)
    killed_at = job_of(db, job_id).step
    assert 2 <= killed_at < steps, "the job should be unfinished when its worker dies"
    # The new primary's worker: its own (empty) Redis, the same replicated rows.
    with redis_server() as new_broker:
        new = workers("site-b", YUI_DATABASE_URL=database_url, YUI_REDIS_URL=new_broker)
        wait_until(lambda: job_of(db, job_id).state == "done", new, what="the resumed job")
    job = job_of(db, job_id)
    assert [r["step"] for r in job.results] == list(range(steps))  # none lost
    assert step_entries(db, job_id) == [f"{job_id}:{n}" for n in range(steps)]  # none twice
    sites = [r["site"] for r in job.results]
    assert sites[:killed_at] == ["site-a"] * killed_at
    assert sites[killed_at:] == ["site-b"] * (steps - killed_at)


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[str]:
    from assembly.sandbox.etcd import LocalEtcdCluster, find_etcd_binary

    if find_etcd_binary() is None:
        _require("etcd")
    cluster = LocalEtcdCluster(tmp_path / "etcd", size=1)
    cluster.start()
    try:
        yield ",".join(cluster.endpoints)
    finally:
        cluster.stop()


def place(endpoints: str, tenant_code: str, primary: str) -> None:
    from failover.coordination import connect_etcd
    from failover.placement.policy import Placement

    async def put() -> None:
        coordination = connect_etcd(endpoints.split(","))
        try:
            _, revision = await coordination.get_placement(tenant_code)
            await coordination.put_placement_if(
                tenant_code, Placement(tenant_code, primary, ("site-b",), ("site-b",)), revision
            )
        finally:
            await coordination.close()

    asyncio.run(put())


def test_jobs_run_only_at_the_primary_and_a_deposed_worker_records_no_more_steps(
    db: Database, database_url: str, redis_url: str, workers: Callable[..., Worker], etcd: str
) -> None:
    tenant(db)
    tenant(db, "271004", "大阪市")
    place(etcd, SENDAI, "site-a")
    place(etcd, "271004", "site-c")  # primary elsewhere
    elsewhere = enqueue(db, tenant_code="271004", steps=1)
    job_id = enqueue(db, steps=20, pause=0.3)
    worker = workers(
        YUI_DATABASE_URL=database_url, YUI_REDIS_URL=redis_url, YUI_ETCD_ENDPOINTS=etcd
    )
    wait_until(lambda: job_of(db, job_id).step >= 2, worker, what="two steps at the primary")
    place(etcd, SENDAI, "site-b")  # a failover: site-a is deposed
    deadline = time.monotonic() + 15
    stopped_at = job_of(db, job_id).step
    while True:  # the worker stops within moments: no new step for 2 s
        time.sleep(2)
        now_at = job_of(db, job_id).step
        if now_at == stopped_at or time.monotonic() > deadline:
            break
        stopped_at = now_at
    job = job_of(db, job_id)
    assert job.step == stopped_at < 20 and job.state in ("running", "queued")
    assert step_entries(db, job_id) == [f"{job_id}:{n}" for n in range(stopped_at)]
    assert job_of(db, elsewhere, "271004").state == "queued"  # never run here
    assert worker.process.poll() is None


@pytest.fixture
def s3_urls() -> Iterator[list[str]]:
    from moto.server import ThreadedMotoServer

    from assembly.sandbox.etcd import free_ports

    ports = free_ports(2)
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=p, verbose=False) for p in ports]
    for server in servers:
        server.start()
    yield [f"http://127.0.0.1:{port}" for port in ports]
    for server in servers:
        server.stop()


def test_scheduled_backups_are_jobs_whose_backups_land_in_both_buckets(
    db: Database,
    database_url: str,
    redis_url: str,
    workers: Callable[..., Worker],
    s3_urls: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from replication.backup.archive import list_backups
    from replication.backup.crypto import MasterKey
    from replication.backup.job import held_by_backups
    from replication.backup.store import Bucket, Target
    from replication.sql import reading
    from replication.state import read

    aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    tenant(db)
    key_file = tmp_path / "backup-master.key"
    suffix = time.monotonic_ns()  # moto's state is shared by the servers of this process
    targets = [Target(url, f"site{i}-backups-{suffix}") for i, url in enumerate(s3_urls)]
    worker = workers(
        YUI_DATABASE_URL=database_url,
        YUI_REDIS_URL=redis_url,
        YUI_BACKUP_TARGETS=",".join(str(t) for t in targets),
        YUI_BACKUP_KEY_FILE=str(key_file),
        YUI_BACKUP_INTERVAL_SECONDS="2",
        **aws,
    )

    def backups() -> list[Any]:
        with db.unit_of_work(SENDAI, read_only=True) as uow:
            return list(service.list_jobs(uow, kind="backup"))

    wait_until(lambda: any(j.state == "done" for j in backups()), worker, what="a backup job")
    first = next(j for j in backups() if j.state == "done")
    with reading(db.engine) as connection:
        head = read(connection, SENDAI).head
    assert held_by_backups(db, SENDAI) == (0, first.results[-1]["held"])
    assert first.results[-1]["held"] > 0
    master = MasterKey.load_or_create(key_file)
    for target in targets:  # the snapshot, named after its job's step, in each bucket
        names = {m.name for m in list_backups(Bucket(target), master, SENDAI)}
        assert any(n.endswith(f"-job-{first.id}-1.snap") for n in names), names
    assert first.results[-1]["held"] <= head
    # The schedule goes on: another backup job an interval later.
    wait_until(
        lambda: len([j for j in backups() if j.state == "done"]) >= 2,
        worker,
        what="the next backup",
    )
    # On demand: `yui backup create --job --wait` enqueues one and waits for the worker.
    from typer.testing import CliRunner

    from assembly.cli.main import app as cli

    for name, value in {
        "YUI_DATABASE_URL": database_url,
        "YUI_DATA_DIR": str(tmp_path / "data"),
        "YUI_SITE": "site-a",
        "YUI_BACKUP_TARGETS": ",".join(str(t) for t in targets),
        "YUI_BACKUP_KEY_FILE": str(key_file),
    }.items():
        monkeypatch.setenv(name, value)
    made = CliRunner().invoke(
        cli, ["backup", "create", "--tenant", SENDAI, "--job", "--wait", "--timeout", "30"]
    )
    assert made.exit_code == 0, made.output + worker.output()
    assert (
        "held seq" in made.output
        and f"yui/{SENDAI}/snapshot/" in made.output
        and "-job-" in made.output
    )
