"""Reports: recorded once per client id, refused whole when wrong, current by report time."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from safety_check.reports.models import Report
from tests.residents.conftest import log_entries, resident_payload
from tests.safety_check.conftest import (
    Office,
    after_opening,
    at,
    audit_actions,
    history,
    open_campaign,
    report,
    report_payload,
)
from tests.support.factories import CHIYODA, sign_in, tenant, user


def test_a_resend_is_recorded_once_and_the_latest_report_time_wins(office: Office) -> None:
    """A resend returns the first result; an older report arriving late leaves the
    current status."""
    resident = office.register()
    campaign = open_campaign(office)
    body = report_payload(resident["id"], status="at_shelter", shelter="一番町小学校")
    first = report(office, campaign["id"], body)
    assert first.status_code == 201, first.text
    recorded = first.json()
    assert recorded["status"] == "at_shelter" and recorded["town_name"] == "一番町一丁目"
    assert recorded["recorded_by"] == "staff1" and recorded["reporter_kind"] == "staff_call"

    again = report(office, campaign["id"], body)  # the phone did not hear the answer
    assert again.status_code == 200
    assert again.json() == recorded
    assert _reports(office) == 1

    changed = report(office, campaign["id"], {**body, "status": "injured"})
    assert _problem(changed, 409)["status"] == 409
    assert _reports(office) == 1
    assert history(office, campaign["id"], resident["id"])["current"]["status"] == "at_shelter"
    actions = audit_actions(office)
    assert "safety.report" in actions and "safety.resident_read" in actions
    assert "directory.lookup" in actions  # the registry audits the lookup itself

    # the later report time wins, whatever the arrival order
    resident = office.register()
    newer = report_payload(resident["id"], status="safe", reported_at=after_opening(campaign, 2))
    older = report_payload(
        resident["id"], status="needs_help", reported_at=after_opening(campaign, 1)
    )
    assert report(office, campaign["id"], newer).status_code == 201
    # a phone that was offline sends its older report late
    assert report(office, campaign["id"], older).status_code == 201
    seen = history(office, campaign["id"], resident["id"])
    assert seen["current"]["id"] == newer["id"]
    assert [item["status"] for item in seen["history"]] == ["safe", "needs_help"]

    latest = report_payload(
        resident["id"], status="injured", reported_at=after_opening(campaign, 3)
    )
    assert report(office, campaign["id"], latest).status_code == 201
    assert history(office, campaign["id"], resident["id"])["current"]["status"] == "injured"


def test_bad_reports_are_refused_and_write_nothing(office: Office) -> None:
    """Each rule refuses its bad input whole: nothing written, nothing audited."""
    resident = office.register()
    campaign = open_campaign(office)
    before_campaign = report_payload(resident["id"], reported_at="2020-01-01T09:00:00+09:00")
    cases = {
        "unknown status": report_payload(resident["id"], status="fine"),
        "future time": report_payload(resident["id"], reported_at=at(3600)),
        "before the campaign": before_campaign,
        "no time zone": report_payload(resident["id"], reported_at="2026-12-06T09:00:00"),
        "unknown reporter": report_payload(resident["id"], reporter_kind="neighbour"),
        "long note": report_payload(resident["id"], note="あ" * 2001),
        "long location": report_payload(resident["id"], location="x" * 201),
        "control character": report_payload(resident["id"], shelter="体育館\x00"),
        "not a uuid": report_payload(resident["id"], id="report-1"),
    }
    for case, body in cases.items():
        response = report(office, campaign["id"], body)
        assert response.status_code == 422, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    huge = report(office, campaign["id"], report_payload(resident["id"], note="x" * 10_000_000))
    assert huge.status_code == 413

    # an unknown resident or campaign is not found
    stranger = report_payload("01234567-89ab-7cde-8f01-23456789abcd")
    assert report(office, campaign["id"], stranger).status_code == 404
    nowhere = "01234567-89ab-4cde-8f01-23456789abcd"
    assert report(office, nowhere, report_payload(resident["id"])).status_code == 404
    # another municipality's staff cannot report into our campaign
    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "chiyoda-staff", "staff")
    theirs = sign_in(office.client, CHIYODA, "chiyoda-staff")
    response = office.client.post(
        f"/api/v1/{CHIYODA}/safety/campaigns/{campaign['id']}/reports",
        json=report_payload(resident["id"]),
        headers=theirs,
    )
    assert response.status_code == 404
    assert _reports(office) == 0
    assert "safety.report" not in audit_actions(office)

    # a note within the limit keeps its lines
    fine = report_payload(resident["id"], note="一行目\n二行目\tタブ")
    assert report(office, campaign["id"], fine).json()["note"] == "一行目\n二行目\tタブ"
    # after the campaign closed, a report of a time before the close is still taken (a
    # phone's outbox); one of a later time is not
    early = report_payload(resident["id"], reported_at=at(0))
    path = f"{office.api}/safety/campaigns/{campaign['id']}/close"
    assert office.client.post(path, headers=office.staff).status_code == 200
    assert report(office, campaign["id"], early).status_code == 201
    late = report_payload(resident["id"], reported_at=at(60))
    assert report(office, campaign["id"], late).status_code == 422
    assert _reports(office) == 2

    # an id taken in another municipality is theirs: 409, not an overwrite nor a 500
    api = f"/api/v1/{CHIYODA}"
    neighbour = office.client.post(
        f"{api}/residents", json=resident_payload(), headers=theirs
    ).json()
    elsewhere = office.client.post(
        f"{api}/safety/campaigns", json={"title": "地震"}, headers=theirs
    ).json()
    taken = report_payload(neighbour["id"], id=fine["id"], reported_at=at(0))
    response = office.client.post(
        f"{api}/safety/campaigns/{elsewhere['id']}/reports", json=taken, headers=theirs
    )
    assert response.status_code == 409, response.text
    assert history(office, campaign["id"], resident["id"])["current"]["id"] == early["id"]


def test_who_may_report_what(office: Office) -> None:
    """Roles: staff record anything; a shelter neither believed_dead nor a DV-blocked
    resident; the auditor, admin and depot nothing."""
    resident = office.register()
    campaign = open_campaign(office)
    dead = report_payload(resident["id"], status="believed_dead", reporter_kind="door_to_door")
    assert _problem(report(office, campaign["id"], dead, office.shelter), 403)
    for headers in (office.auditor, office.admin, office.headers("depot1", "depot")):
        assert (
            report(office, campaign["id"], report_payload(resident["id"]), headers).status_code
            == 403
        )
    assert _reports(office) == 0
    shelter = report_payload(resident["id"], status="at_shelter", reporter_kind="resident")
    assert report(office, campaign["id"], shelter, office.shelter).status_code == 201
    assert report(office, campaign["id"], dead).status_code == 201  # staff may
    # the auditor reads the history; a shelter does not
    path = f"{office.api}/safety/campaigns/{campaign['id']}/residents/{resident['id']}"
    assert office.client.get(path, headers=office.auditor).status_code == 200
    assert office.client.get(path, headers=office.shelter).status_code == 403

    # a shelter cannot report on a DV-blocked resident
    resident = office.register()
    office.block(resident["id"])
    body = report_payload(resident["id"], status="at_shelter")
    # as for anyone the registry does not show to non-staff: not found, nothing told
    assert report(office, campaign["id"], body, office.shelter).status_code == 404
    assert report(office, campaign["id"], body).status_code == 201  # staff see the person


def _reports(office: Office) -> int:
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        count: int = uow.session.execute(select(func.count()).select_from(Report)).scalar_one()
        return count


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_a_report_commits_with_the_registry_s_audit_of_its_lookup(office: Office) -> None:
    """One commit per report: the registry's audit entry of the resident's lookup is in
    the report's own transaction (the same change-log transaction), so a report is never
    written without it. A refused report and a report about no one still leave the
    lookup's audit entry, alone."""
    resident = office.register()
    campaign = open_campaign(office)
    logged = len(log_entries(office.db, office.code))

    assert report(office, campaign["id"], report_payload(resident["id"])).status_code == 201
    entries = log_entries(office.db, office.code)[logged:]
    assert len({entry.tx_seq for entry in entries}) == 1  # one transaction, one commit
    audited = [entry.row for entry in entries if entry.table_name == "audit_log"]
    assert [row["action"] for row in audited if row] == ["directory.lookup", "safety.report"]
    assert any(entry.table_name == "safety_check_reports" for entry in entries)

    for refused, status in (
        (report_payload(resident["id"], reported_at=at(3600)), 422),  # in the future
        (report_payload(str(uuid.uuid4())), 404),  # nobody
    ):
        logged = len(log_entries(office.db, office.code))
        assert report(office, campaign["id"], refused).status_code == status
        entries = log_entries(office.db, office.code)[logged:]
        assert {entry.table_name for entry in entries} <= {"audit_log", "audit_heads"}
        assert [e.row["action"] for e in entries if e.table_name == "audit_log" and e.row] == [
            "directory.lookup"
        ]
    assert _reports(office) == 1
