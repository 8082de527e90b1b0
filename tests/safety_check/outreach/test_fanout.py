"""The fan-out job: one message per reachable resident, needs-assistance first, each with
a working personal link; interrupted mid-batch at one runner and resumed by another,
nobody is messaged twice and nobody skipped; reminders reach only the non-responders."""

from __future__ import annotations

import dataclasses
import email
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select, text

from residents.directory.service import Directory
from safety_check.campaigns import service as campaigns
from safety_check.campaigns.models import Campaign, CampaignOrigin, CampaignState
from safety_check.channels.base import Message, RateLimit, Sender
from safety_check.channels.sink import SmtpSink, duplicate_keys, stored_messages
from safety_check.channels.smtp import SmtpSender
from safety_check.links.service import LinkMaker
from safety_check.outreach import service as outreach
from safety_check.outreach.models import OutreachMessage
from tests.safety_check.conftest import Office, after_opening, open_campaign
from tests.safety_check.together import meeting_after
from yui.jobs import service as jobs
from yui.jobs.kinds import JobKinds
from yui.jobs.runner import run_job

RESIDENTS, BATCH = 20, 6


def _mails(folder: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=default)
        for path in stored_messages(folder)
    ]


def _kinds(office: Office, sink: SmtpSink) -> tuple[JobKinds, outreach.Outreach]:
    sender = SmtpSender(
        sink.host, sink.port, sender_address="anpi@city.example.jp", rate=RateLimit(10_000)
    )
    keys = office.client.app.state.yui.token_keys  # type: ignore[attr-defined]
    plan = outreach.Outreach(
        {"email": sender},
        LinkMaker(keys, url="/api/v1/{tenant}/safety/links/{token}"),
        threads=1,  # one thread: the interruption falls at a known message
        batch_size=BATCH,
    )
    kinds = JobKinds()
    kinds.register(outreach.outreach_kind(plan))
    kinds.register(outreach.reminders_kind(plan))
    return kinds, plan


def test_fanout_interrupted_and_resumed_sends_each_resident_once(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUI_SAFETY_SMTP_HOST", "127.0.0.1")  # the site has an e-mail channel
    monkeypatch.setenv("YUI_SAFETY_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("YUI_SAFETY_REMINDER_MINUTES", "[60]")
    people = [office.register(email=f"r{n}@example.jp") for n in range(RESIDENTS)]
    office.register()  # no e-mail address: unreachable here (door-to-door)
    assisted = [people[13], people[5]]
    for priority, resident in enumerate(assisted, start=1):
        entry = office.client.put(
            f"{office.api}/residents/{resident['id']}/assistance",
            json={"reasons": ["elderly_alone"], "priority": priority},
            headers=office.staff,
        )
        assert entry.status_code == 200, entry.text
    campaign = open_campaign(office)
    path = f"{office.api}/safety/campaigns/{campaign['id']}/outreach"
    assert office.client.post(path, headers=office.shelter).status_code == 403
    started = office.client.post(path, headers=office.staff)
    assert started.status_code == 202, started.text
    planned = started.json()
    assert (planned["messages"], planned["unreachable"], planned["batches"]) == (RESIDENTS, 1, 4)
    assert office.client.post(path, headers=office.staff).status_code == 409  # once
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        order = list(
            uow.session.execute(
                select(OutreachMessage.resident_id).order_by(OutreachMessage.position)
            ).scalars()
        )
    assert order[:2] == [assisted[0]["id"], assisted[1]["id"]]  # register priority first

    folder = tmp_path / "sink"
    job_id = uuid.UUID(planned["job_id"])
    with SmtpSink(folder) as sink:
        kinds, _ = _kinds(office, sink)
        # runner A is deposed mid-batch: its checks (one before each step, one before each
        # message) pass ten times: step 0 (checks 0-6) is sent and recorded, step 1 sends
        # two messages (checks 8, 9) and stops at the third, unrecorded
        checks = iter(range(1000))
        first = run_job(
            office.db, kinds, office.code, job_id, site="a", still_ours=lambda: next(checks) < 10
        )
        assert first.state == "fenced" and first.steps_run == 1
        sent_by_a = len(stored_messages(folder))
        assert sent_by_a == BATCH + 2
        # runner B (the new primary's worker) resumes from the recorded step
        second = run_job(office.db, kinds, office.code, job_id, site="b")
        assert second.state == "done" and second.steps_run == 3

        mails = _mails(folder)
        addresses = sorted(str(mail["To"]) for mail in mails)
        assert addresses == sorted(f"r{n}@example.jp" for n in range(RESIDENTS))  # each once
        # the interrupted batch was sent again with the same keys: the sink kept one each
        resent = duplicate_keys(folder)
        assert len(resent) == 2 and all(key.startswith(f"{job_id}:1:") for key in resent)
        with office.db.unit_of_work(office.code, read_only=True) as uow:
            job = jobs.get(uow, job_id)
            assert [result["sent"] for result in job.results] == [BATCH, BATCH, BATCH, 2]
            assert job.site == "b"

        # the personal link in a message records that resident's report
        mail = next(m for m in mails if m["To"] == "r0@example.jp")
        assert str(mail["Subject"]).startswith("【安否確認】")
        link = re.search(r"(/api/v1/\S+)", mail.get_content())
        assert link is not None
        tap = {"id": str(uuid.uuid4()), "status": "safe", "reported_at": after_opening(campaign, 1)}
        assert office.client.post(f"{link.group(1)}/reports", json=tap).status_code == 201

        # the worker's dispatcher makes a reminders job only once one is due
        assert not outreach.reminders_due(office.db, office.code)
        # 60 minutes later the reminder goes to the 19 who have not answered
        later = campaigns.now() + timedelta(minutes=61)
        kinds = JobKinds()
        _, plan = _kinds(office, sink)
        kinds.register(outreach.reminders_kind(plan, now=lambda: later))
        kinds.register(outreach.outreach_kind(plan))
        with office.db.unit_of_work(office.code) as uow:
            reminder_job = jobs.enqueue(uow, office.code, outreach.REMINDERS, {})
            uow.commit()
        assert run_job(office.db, kinds, office.code, reminder_job.id, site="b").state == "done"
        rounds = office.client.get(path, headers=office.auditor).json()
        assert [(r["round"], r["messages"]) for r in rounds] == [(0, RESIDENTS), (1, RESIDENTS - 1)]
        reminded = uuid.UUID(rounds[1]["job_id"])
        assert run_job(office.db, kinds, office.code, reminded, site="b").state == "done"
        # nothing more is due until the next reminder time (there is none)
        with office.db.unit_of_work(office.code) as uow:
            again = jobs.enqueue(uow, office.code, outreach.REMINDERS, {})
            uow.commit()
        run_job(office.db, kinds, office.code, again.id, site="b")
        assert len(office.client.get(path, headers=office.staff).json()) == 2

    reminders = [m for m in _mails(folder) if "再送" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in reminders) == sorted(
        f"r{n}@example.jp" for n in range(1, RESIDENTS)
    )
    # every message is keyed by its job step and resident
    assert all(str(m["Idempotency-Key"]).count(":") == 2 for m in _mails(folder))

    # a drill's purge takes its plan (addresses included) with it
    drill = open_campaign(office, kind="drill")
    drill_path = f"{office.api}/safety/campaigns/{drill['id']}/outreach"
    assert office.client.post(drill_path, headers=office.staff).status_code == 202
    purged = office.client.delete(
        f"{office.api}/safety/campaigns/{drill['id']}", headers=office.staff
    )
    assert purged.status_code == 204, purged.text
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        left = uow.session.execute(
            select(OutreachMessage).where(OutreachMessage.campaign_id == drill["id"])
        ).first()
    assert left is None

    # an alert's campaign is sent to without staff once its false-alarm hold has ended
    with office.db.unit_of_work(office.code) as uow:
        alerted = Campaign(
            title="津波警報",
            kind="live",
            opened_at=campaigns.now(),
            opened_by="system:alert",
            state=CampaignState.PENDING,
            origin=CampaignOrigin.ALERT,
        )
        uow.session.add(alerted)
        uow.commit()
    assert not outreach.starts_due(office.db, office.code)  # held: nobody is messaged yet
    with office.db.unit_of_work(office.code) as uow:
        held = campaigns.get(uow.session, alerted.id)
        campaigns.release(uow.session, held, at=campaigns.now(), by="hold")
        uow.commit()
    assert outreach.starts_due(office.db, office.code)
    kinds.register(outreach.starter_kind(plan, Directory))
    for _ in range(2):  # a second run (a step run again) starts nothing twice
        with office.db.unit_of_work(office.code) as uow:
            starter = jobs.enqueue(uow, office.code, outreach.STARTS, {})
            uow.commit()
        assert run_job(office.db, kinds, office.code, starter.id, site="b").state == "done"
    alerted_rounds = office.client.get(
        f"{office.api}/safety/campaigns/{alerted.id}/outreach", headers=office.staff
    ).json()
    assert [(r["round"], r["messages"]) for r in alerted_rounds] == [(0, RESIDENTS)]
    assert not outreach.starts_due(office.db, office.code)

    _two_starts_at_once(office, monkeypatch)


def _two_starts_at_once(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two staff start a campaign's messages at the same moment: one round is planned, the
    other is told 409. The first to read the campaign's rounds waits (up to a second) for
    the other to read them too, so both would find none if nothing ordered them; on
    PostgreSQL the second then failed on the rounds' unique index (500)."""
    campaign = open_campaign(office)
    path = f"{office.api}/safety/campaigns/{campaign['id']}/outreach"
    monkeypatch.setattr(outreach, "_rounds", meeting_after(outreach._rounds))
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: office.client.post(path, headers=office.staff), "ab"))
    assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
    monkeypatch.undo()
    assert len(office.client.get(path, headers=office.staff).json()) == 1


def _runs(plan: outreach.Outreach, senders: dict[str, Sender]) -> JobKinds:
    """The fan-out's job kind as `plan` with other senders."""
    kinds = JobKinds()
    kinds.register(outreach.outreach_kind(dataclasses.replace(plan, senders=senders)))
    return kinds


def test_a_fanout_stops_at_the_first_message_after_the_epoch_moves(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fence before each message reads the tenant's write epoch afresh (on the
    connection its thread keeps for the step): once another primary's epoch is written,
    the deposed runner sends nothing more, not even within the batch it is sending; a
    runner of the new epoch then sends the rest, each resident once."""
    monkeypatch.setenv("YUI_SAFETY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("YUI_SAFETY_BATCH_SIZE", str(BATCH))
    people = 8
    for n in range(people):
        office.register(email=f"e{n}@example.jp")
    campaign = open_campaign(office)
    started = office.client.post(
        f"{office.api}/safety/campaigns/{campaign['id']}/outreach", headers=office.staff
    )
    assert started.status_code == 202, started.text
    job_id = uuid.UUID(started.json()["job_id"])
    folder = tmp_path / "sink"
    with SmtpSink(folder) as sink:
        kinds, plan = _kinds(office, sink)
        sends = 0

        class Deposing(SmtpSender):
            def send(self, message: Message) -> None:
                nonlocal sends
                super().send(message)
                sends += 1
                if sends == 3:  # a new primary is promoted: its epoch reaches this copy
                    with office.db.engine.begin() as connection:
                        connection.execute(
                            text("UPDATE log_heads SET epoch = epoch + 1 WHERE tenant_id = :t"),
                            {"t": office.code},
                        )

        senders = {
            "email": Deposing(
                sink.host, sink.port, sender_address="x@example.jp", rate=RateLimit(10_000)
            )
        }
        deposed = run_job(office.db, _runs(plan, senders), office.code, job_id, site="a")
        assert deposed.state == "fenced" and deposed.steps_run == 0
        assert len(stored_messages(folder)) == 3  # none after the epoch moved
        resumed = run_job(office.db, kinds, office.code, job_id, site="b")
        assert resumed.state == "done"
        assert sorted(str(m["To"]) for m in _mails(folder)) == sorted(
            f"e{n}@example.jp" for n in range(people)
        )
        assert len(duplicate_keys(folder)) == 3  # sent again with the same keys, kept once
