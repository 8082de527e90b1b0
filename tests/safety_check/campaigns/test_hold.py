"""The false-alarm hold: a stored deadline (not a timer in memory) that the primary's job
dispatcher finds after a restart; staff send at once or cancel; who may. One test: each
pays the office's migration and sign-ins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from assembly.site import job_kinds, job_schedules
from failover.alerts.announce import announce
from safety_check.campaigns import alerts, service
from safety_check.campaigns import jobs as hold_jobs
from safety_check.campaigns.models import Campaign
from tests.residents.conftest import log_entries
from tests.safety_check.campaigns.cap import QUAKE_AREA, cap_alert, minutes_ago
from tests.safety_check.conftest import Office, audit_actions, report, report_payload
from tests.safety_check.together import Meeting, meeting_after
from yui.audit.models import AuditEntry
from yui.db.database import Database
from yui.hazard_alerts import parse_alert
from yui.jobs import service as jobs
from yui.jobs.runner import run_job
from yui.jobs.worker import Runtime, create_scheduled
from yui.settings import Settings

#: areas apart, so that one alert's campaign is not the series of another's
AREAS = ("221", "222", "223", "224", "225")


def _audited(office: Office, *actions: str, subject: str | None = None) -> list[AuditEntry]:
    """The tenant's audit entries of these actions (about ``subject``), in order."""
    query = select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.n)
    if subject is not None:
        query = query.where(AuditEntry.subject_id == subject)
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        return list(uow.session.execute(query).scalars())


def _rules_saved_twice_at_once(office: Office) -> None:
    """The municipality's first rules saved twice at the same moment (two admins, or one
    admin's double click): both are saved, in turn (200 twice), and the one saved last
    decides, as two saves one after the other would; both are audited. Each save waits
    (up to a second) after reading the stored rules for the other to read them too; on
    PostgreSQL both found none and the second failed on the rules' key (500)."""
    url = f"{office.api}/safety/alert-rules"
    saves = (
        {"quake_area_codes": list(AREAS)},
        {"quake_area_codes": list(AREAS), "eruption_area_codes": ["506"]},
    )
    admin = office.admin  # signed in once, before the two saves
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alerts, "stored_rules", meeting_after(alerts.stored_rules))
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(
                pool.map(lambda rules: office.client.put(url, json=rules, headers=admin), saves)
            )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    audited = [entry.detail for entry in _audited(office, "safety.alert_rules")]
    assert len(audited) == 2 and audited[0] != audited[1]
    stored = office.client.get(url, headers=office.admin).json()
    assert stored["customised"] is True and stored["quake_area_codes"] == list(AREAS)
    assert stored["eruption_area_codes"] == audited[-1]["eruption_area_codes"]


def _held(office: Office, identifier: str, area: str, *, received: datetime) -> dict[str, Any]:
    """A campaign an alert opened, as if the alert had come in at ``received``."""
    codes = ((QUAKE_AREA, area),)
    alert = parse_alert(cap_alert(identifier, codes=codes, sent=received - timedelta(minutes=1)))
    told = announce(alert, office.db, [office.code], site="test-site", now=received)
    assert told.told == (office.code,), told
    found = [
        c
        for c in office.client.get(f"{office.api}/safety/campaigns", headers=office.staff).json()
        if c["notices"] and c["notices"][0]["alert_identifier"] == identifier
    ]
    assert len(found) == 1
    campaign: dict[str, Any] = found[0]
    return campaign


def _stored(db: Database, tenant: str, campaign_id: str) -> Campaign:
    with db.unit_of_work(tenant, read_only=True) as uow:
        campaign = uow.session.execute(
            select(Campaign).where(Campaign.id == campaign_id)
        ).scalar_one()
        return campaign


def test_the_hold_ends_by_its_stored_deadline_and_staff_send_or_cancel(
    office: Office, settings: Settings, database_url: str
) -> None:
    # the alert came in 11 minutes ago: its 10-minute hold ended a minute ago
    _rules_saved_twice_at_once(office)
    received = minutes_ago(11)
    campaign = _held(office, "quake-restart", AREAS[0], received=received)
    hold_until = received + timedelta(minutes=10)
    # read: the hold has ended, so it is open (even before the job records it)
    assert campaign["state"] == "open"
    assert datetime.fromisoformat(campaign["released_at"]) == hold_until
    assert _stored(office.db, office.code, campaign["id"]).state == "pending"
    # the deadline is in the campaign's row, so it is in the change log that replicates
    logged = [
        e for e in log_entries(office.db, office.code) if e.table_name == Campaign.__tablename__
    ]
    assert any(e.row and e.row.get("hold_until") for e in logged)

    # a restart: a new process with a new engine finds the deadline in the database
    office.db.engine.dispose()
    restarted = Database(database_url)
    try:
        runtime = Runtime(
            site="test-site",
            db=restarted,
            kinds=job_kinds(settings),
            primaries=lambda: {office.code},
            redis_url="redis://unused",
            schedules=job_schedules(settings),
        )
        assert hold_jobs.holds_due(restarted, office.code)
        [job_id] = create_scheduled(runtime, office.code)
        outcome = run_job(restarted, runtime.kinds, office.code, job_id, site="test-site")
        assert outcome.state == "done"
        stored = _stored(restarted, office.code, campaign["id"])
        assert stored.state == "open" and stored.released_at == hold_until
        assert stored.released_by == "hold"
        # nothing more to release: no further job rows (the dispatcher runs every few seconds)
        assert not hold_jobs.holds_due(restarted, office.code)
        assert create_scheduled(runtime, office.code) == []
        with restarted.unit_of_work(office.code, read_only=True) as uow:
            made = jobs.list_jobs(uow, limit=100)
            assert [job.kind for job in made] == [hold_jobs.KIND]
    finally:
        restarted.dispose()
    assert "safety.campaign_release" in audit_actions(office)

    # a campaign still in its hold is not released by the job
    now = datetime.now(UTC)
    waiting = _held(office, "quake-waiting", AREAS[1], received=now)
    assert waiting["state"] == "pending"
    assert not hold_jobs.holds_due(office.db, office.code)

    # staff send at once, or cancel (a false alarm); who may
    url = f"{office.api}/safety/campaigns"
    sending = waiting
    cancelling = _held(office, "quake-cancel", AREAS[2], received=now)
    for campaign in (sending, cancelling):
        for action in ("send-now", "cancel"):
            for headers in (office.admin, office.auditor, office.shelter):
                answer = office.client.post(f"{url}/{campaign['id']}/{action}", headers=headers)
                assert answer.status_code == 403, (action, headers)
            assert office.client.post(f"{url}/{campaign['id']}/{action}").status_code == 401
    assert (
        office.client.post(
            f"{url}/{'0' * 8}-0000-4000-8000-{'0' * 12}/send-now", headers=office.staff
        ).status_code
        == 404
    )
    assert office.client.post(f"{url}/not-an-id/cancel", headers=office.staff).status_code == 422

    sent = office.client.post(f"{url}/{sending['id']}/send-now", headers=office.staff)
    assert sent.status_code == 200, sent.text
    assert sent.json()["state"] == "open" and sent.json()["released_by"] == "staff1"
    for action in ("send-now", "cancel"):  # no longer held
        again = office.client.post(f"{url}/{sending['id']}/{action}", headers=office.staff)
        assert (
            again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        )

    cancelled = office.client.post(f"{url}/{cancelling['id']}/cancel", headers=office.staff)
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["state"] == "cancelled" and body["open"] is False and body["closed_by"] == "staff1"
    assert (
        office.client.post(f"{url}/{cancelling['id']}/send-now", headers=office.staff).status_code
        == 409
    )
    # a cancelled campaign takes no report of a later time; the sent one does
    resident = office.register()
    assert report(office, cancelling["id"], report_payload(resident["id"])).status_code == 422
    assert report(office, sending["id"], report_payload(resident["id"])).status_code == 201
    actions = audit_actions(office)
    assert "safety.campaign_cancel" in actions and "safety.campaign_release" in actions
    # a staff-opened campaign is open at once, so there is nothing to send or cancel
    opened = office.client.post(url, json={"title": "地震"}, headers=office.staff).json()
    assert opened["state"] == "open" and opened["released_by"] == "staff1"
    assert (
        office.client.post(f"{url}/{opened['id']}/cancel", headers=office.staff).status_code == 409
    )
    # (the cancelled campaign takes no series: this alert in its area opens a new one)
    _sent_and_cancelled_at_once(office, _held(office, "quake-race", AREAS[2], received=now))
    _cancelled_as_the_hold_ends(office, now)


def _sent_and_cancelled_at_once(office: Office, held: dict[str, Any]) -> None:
    """One staff member sends a held campaign at once while another cancels it: one is
    told 409 and the campaign is what the other did. The first to read the campaign waits
    (up to a second) for the other to read it too, so both would find it held if nothing
    ordered them; on PostgreSQL both then answered 200 and the later commit decided."""
    read_then_wait = meeting_after(service.get)

    path = f"{office.api}/safety/campaigns/{held['id']}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "get", read_then_wait)
        with ThreadPoolExecutor(max_workers=2) as pool:
            sent, cancelled = pool.map(
                lambda action: office.client.post(f"{path}/{action}", headers=office.staff),
                ("send-now", "cancel"),
            )
    assert sorted((sent.status_code, cancelled.status_code)) == [200, 409], (
        sent.text,
        cancelled.text,
    )
    state = office.client.get(path, headers=office.staff).json()["state"]
    assert state == ("open" if sent.status_code == 200 else "cancelled")


def _cancelled_as_the_hold_ends(office: Office, now: datetime) -> None:
    """Staff cancel a held campaign at the very moment the release job opens it (the
    job's clock at the end of the hold, the cancel's just before it): the first to take
    the tenant's audit head decides. The cancel first: it answers 200 and the job opens
    nothing; the job first: the cancel is told 409, the campaign already sent. Never both.
    The job's read of the ended holds and the cancel's read of the campaign wait (up to a
    second) for each other, the second starting once the first has read; on PostgreSQL
    both then went on: the job opened the cancelled campaign (state open, closed_at set,
    both audited: its messages would have gone out), or the two deadlocked (500)."""
    # (the other areas have open campaigns: a quake there would join them as a series)
    for cancel_first, area in ((True, AREAS[3]), (False, AREAS[4])):
        held = _held(office, f"quake-at-the-end-{area}", area, received=now)
        cancelled, released = _cancel_and_release(office, held, cancel_first=cancel_first)
        stored = _stored(office.db, office.code, held["id"])
        actions = ("safety.campaign_cancel", "safety.campaign_release")
        audited = [e.action for e in _audited(office, *actions, subject=held["id"])]
        if cancel_first:
            assert cancelled.status_code == 200, cancelled.text
            assert (released, stored.state, audited) == ([], "cancelled", [actions[0]])
        else:
            assert cancelled.status_code == 409, cancelled.text
            assert cancelled.headers["content-type"] == "application/problem+json"
            assert "送信されています" in cancelled.text and "already sent" in cancelled.text
            assert released == [held["id"]] and stored.closed_at is None
            assert (stored.state, audited) == ("open", [actions[1]])


def _cancel_and_release(
    office: Office, held: dict[str, Any], *, cancel_first: bool
) -> tuple[Any, list[str]]:
    """The cancel's answer and what the release job opened, the two made to meet."""
    hold_until = datetime.fromisoformat(held["hold_until"])
    meeting = Meeting()

    def cancel() -> Any:
        if not cancel_first:
            meeting.led.wait(timeout=5)
        path = f"{office.api}/safety/campaigns/{held['id']}/cancel"
        return office.client.post(path, headers=office.staff)

    def release_job() -> list[str]:  # the job's step (jobs._release) at the hold's end
        if cancel_first:
            meeting.led.wait(timeout=5)
        with office.db.unit_of_work(office.code) as uow:
            released = [c.id for c in service.release_due(uow.session, at=hold_until)]
            uow.commit()
            return released

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "get", meeting.after(service.get, leads=cancel_first))
        due = meeting.after(service.held_until_due, leads=not cancel_first)
        patch.setattr(service, "held_until_due", due)
        with ThreadPoolExecutor(max_workers=2) as pool:
            cancelling, releasing = pool.submit(cancel), pool.submit(release_job)
            return cancelling.result(), releasing.result()
