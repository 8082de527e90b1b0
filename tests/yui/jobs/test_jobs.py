"""Jobs as rows, in one process: steps and their markers commit together, a step is
never recorded twice, the fence refuses a site that is not the primary, failures are
counted; the staff API and the CLI read them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from assembly.cli.main import app as cli
from tests.support.factories import SENDAI, sign_in, tenant, user
from yui.audit.models import AuditEntry
from yui.changelog.models import ChangeLogEntry
from yui.db.database import Database
from yui.jobs import service
from yui.jobs.kinds import DEMO, JobKind, JobKinds, Step, StepContext
from yui.jobs.runner import run_job
from yui.jobs.worker import fence
from yui.settings import Settings

KINDS = JobKinds()
KINDS.register(DEMO)


def _enqueue(db: Database, kind: str = "demo", **params: Any) -> uuid.UUID:
    with db.unit_of_work(SENDAI) as uow:
        job = service.enqueue(uow, SENDAI, kind, params)
        uow.commit()
    return job.id


def _job(db: Database, job_id: uuid.UUID) -> Any:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return service.get(uow, job_id)


def _step_entries(db: Database, job_id: uuid.UUID) -> list[str]:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(AuditEntry.subject_id)
                .where(
                    AuditEntry.action == "jobs.demo.step", AuditEntry.subject_id.like(f"{job_id}:%")
                )
                .order_by(AuditEntry.n)
            ).scalars()
        )


def test_a_job_runs_its_steps_once_each_and_its_rows_are_change_logged(db: Database) -> None:
    tenant(db)
    job_id = _enqueue(db, steps=4)
    outcome = run_job(db, KINDS, SENDAI, job_id, site="site-a")
    assert (outcome.state, outcome.steps_run) == ("done", 4)
    job = _job(db, job_id)
    assert (job.state, job.step, job.site) == ("done", 4, "site-a")
    assert [r["step"] for r in job.results] == [0, 1, 2, 3]
    assert _step_entries(db, job_id) == [f"{job_id}:{n}" for n in range(4)]
    # Run again (a duplicate task): nothing more happens.
    assert run_job(db, KINDS, SENDAI, job_id, site="site-a").steps_run == 0
    assert len(_step_entries(db, job_id)) == 4
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        logged = uow.session.execute(
            select(func.count()).where(
                ChangeLogEntry.table_name == "jobs", ChangeLogEntry.tenant_id == SENDAI
            )
        ).scalar_one()
    assert logged == 1 + 4  # the insert and one update per step


def test_a_step_recorded_by_another_run_is_not_recorded_again(db: Database) -> None:
    tenant(db)
    job_id = _enqueue(db, steps=2)
    with db.unit_of_work(SENDAI) as uow:
        job = service.get(uow, job_id, lock=True)
        service.record_step(uow, job, 0, {"by": "first"}, last=False, site="a")
        uow.commit()
    with db.unit_of_work(SENDAI) as uow:
        job = service.get(uow, job_id, lock=True)
        with pytest.raises(service.StepAlreadyDone):
            service.record_step(uow, job, 0, {"by": "second"}, last=False, site="a")
    assert _job(db, job_id).results == [{"by": "first"}]


def test_a_worker_at_a_site_that_is_not_the_primary_records_nothing(db: Database) -> None:
    tenant(db)
    job_id = _enqueue(db, steps=3)
    db.write_gate = fence(lambda: {"271004"}, "site-a")
    try:
        outcome = run_job(db, KINDS, SENDAI, job_id, site="site-a")
    finally:
        db.write_gate = None
    assert outcome.state == "fenced"
    job = _job(db, job_id)
    assert (job.state, job.step, job.results) == ("queued", 0, [])
    assert _step_entries(db, job_id) == []


def test_a_failing_step_is_retried_then_the_job_fails_with_its_error(db: Database) -> None:
    tenant(db)
    calls: list[int] = []

    def flaky(context: StepContext) -> None:
        calls.append(len(calls))
        raise OSError("S3 unreachable")

    kinds = JobKinds()
    kinds.register(JobKind("flaky", lambda _p: [Step("upload", flaky, external=True)], 2))
    job_id = _enqueue(db, "flaky")
    assert run_job(db, kinds, SENDAI, job_id, site="a").state == "queued"
    job = _job(db, job_id)
    assert (job.attempts, job.last_error) == (1, "OSError: S3 unreachable")
    assert run_job(db, kinds, SENDAI, job_id, site="a").state == "failed"
    job = _job(db, job_id)
    assert job.state == "failed" and job.finished_at is not None and len(calls) == 2


def test_staff_read_jobs_over_http_and_others_get_problems(
    client: TestClient, db: Database
) -> None:
    tenant(db)
    user(db, SENDAI, "kanri", "admin")
    user(db, SENDAI, "madoguchi", "staff")
    job_id = _enqueue(db, steps=1)
    admin = sign_in(client, SENDAI, "kanri")
    listed = client.get(f"/api/v1/{SENDAI}/jobs", headers=admin, params={"state": "queued"})
    assert listed.status_code == 200
    assert [j["id"] for j in listed.json()] == [str(job_id)]
    shown = client.get(f"/api/v1/{SENDAI}/jobs/{job_id}", headers=admin)
    assert shown.json()["kind"] == "demo" and shown.json()["state"] == "queued"
    missing = client.get(f"/api/v1/{SENDAI}/jobs/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    staff = client.get(f"/api/v1/{SENDAI}/jobs", headers=sign_in(client, SENDAI, "madoguchi"))
    assert staff.status_code == 403
    assert staff.headers["content-type"].startswith("application/problem+json")
    bad = client.get(f"/api/v1/{SENDAI}/jobs", headers=admin, params={"state": "lost"})
    assert bad.status_code == 422


def test_jobs_list_and_show_on_the_command_line(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant(db)
    job_id = _enqueue(db, steps=2)
    run_job(db, KINDS, SENDAI, job_id, site="test-site")
    for name, value in {
        "YUI_DATABASE_URL": settings.effective_database_url,
        "YUI_DATA_DIR": str(settings.data_dir),
        "YUI_SITE": "test-site",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    listed = runner.invoke(cli, ["jobs", "list", "--tenant", SENDAI, "--state", "done"])
    assert listed.exit_code == 0, listed.output
    assert str(job_id)[:8] in listed.output and "done" in listed.output
    shown = runner.invoke(cli, ["jobs", "show", str(job_id)])
    assert shown.exit_code == 0 and '"step": 2' in shown.output
    unknown = runner.invoke(cli, ["jobs", "show", str(uuid.uuid4())])
    assert unknown.exit_code == 1 and "ありません" in unknown.output
    wrong = runner.invoke(cli, ["jobs", "list", "--tenant", SENDAI, "--state", "lost"])
    assert wrong.exit_code == 2


def test_a_job_of_a_kind_this_site_does_not_know_fails_after_its_attempts(db: Database) -> None:
    tenant(db)
    job_id = _enqueue(db, "newer-kind")
    for _ in range(5):
        outcome = run_job(db, KINDS, SENDAI, job_id, site="a")
    job = _job(db, job_id)
    assert (outcome.state, job.state, job.attempts) == ("failed", "failed", 5)
    assert "newer-kind" in (job.last_error or "")
