"""Campaigns: staff open and close them; a drill is kept apart and can be purged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from safety_check.campaigns import service
from safety_check.campaigns.models import Campaign
from safety_check.reports.models import Report
from tests.residents.conftest import audit_entries
from tests.safety_check.conftest import (
    Office,
    audit_actions,
    history,
    open_campaign,
    report,
    report_payload,
)
from tests.safety_check.roles import admits_exactly_its_roles
from tests.safety_check.together import meeting_after
from tests.support.factories import CHIYODA, sign_in, tenant, user


def test_campaigns_open_close_purge_and_who_may(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff open and close campaigns; bad input and the wrong roles change nothing;
    another tenant finds none; a drill is purged with its reports, a live campaign never."""
    live = open_campaign(office)
    drill = open_campaign(office, kind="drill", title="総合防災訓練")
    assert live["open"] and live["kind"] == "live" and live["opened_by"] == "staff1"
    listed = office.client.get(f"{office.api}/safety/campaigns", headers=office.auditor).json()
    assert [item["id"] for item in listed] == [drill["id"], live["id"]]  # newest first

    closed = office.client.post(
        f"{office.api}/safety/campaigns/{live['id']}/close", headers=office.staff
    )
    assert closed.status_code == 200
    assert closed.json()["open"] is False and closed.json()["closed_by"] == "staff1"
    again = office.client.post(
        f"{office.api}/safety/campaigns/{live['id']}/close", headers=office.staff
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    actions = audit_actions(office)
    assert actions.count("safety.campaign_open") == 2 and "safety.campaign_close" in actions

    # bad input is refused
    url = f"{office.api}/safety/campaigns"
    before = office.client.get(url, headers=office.staff).json()
    for body in (
        {"title": "", "kind": "live"},
        {"title": "x", "kind": "exercise"},
        {"title": "a\x00"},
    ):
        response = office.client.post(url, json=body, headers=office.staff)
        assert response.status_code == 422, body
    assert office.client.get(url, headers=office.staff).json() == before

    # roles who may open and read
    body = {"title": "地震"}
    depot = office.headers("depot1", "depot")
    for headers in (office.auditor, office.shelter, office.admin, depot):
        assert office.client.post(url, json=body, headers=headers).status_code == 403
    assert office.client.post(url, json=body).status_code == 401
    campaign = open_campaign(office)
    for headers in (office.auditor, office.shelter):
        assert office.client.get(f"{url}/{campaign['id']}", headers=headers).status_code == 200
    for headers in (office.admin, depot):
        assert office.client.get(url, headers=headers).status_code == 403
    for headers in (office.auditor, office.shelter):
        assert (
            office.client.post(f"{url}/{campaign['id']}/close", headers=headers).status_code == 403
        )
        assert office.client.delete(f"{url}/{campaign['id']}", headers=headers).status_code == 403

    # another tenant's staff find none of our campaigns
    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "chiyoda-staff", "staff")
    theirs = sign_in(office.client, CHIYODA, "chiyoda-staff")
    path = f"/api/v1/{CHIYODA}/safety/campaigns/{campaign['id']}"
    assert office.client.get(path, headers=theirs).status_code == 404
    assert office.client.post(f"{path}/close", headers=theirs).status_code == 404
    # their token on our path: the same answer as for a tenant that does not exist
    ours = f"{office.api}/safety/campaigns/{campaign['id']}"
    assert office.client.get(ours, headers=theirs).status_code == 404

    # a drill is purged with its reports, a live campaign never
    resident = office.register()
    live, drill = open_campaign(office), open_campaign(office, kind="drill")
    campaigns_before = _count(office, Campaign)
    assert report(office, live["id"], report_payload(resident["id"])).status_code == 201
    assert report(office, drill["id"], report_payload(resident["id"])).status_code == 201

    refused = office.client.delete(
        f"{office.api}/safety/campaigns/{live['id']}", headers=office.staff
    )
    assert refused.status_code == 409
    purged = office.client.delete(
        f"{office.api}/safety/campaigns/{drill['id']}", headers=office.staff
    )
    assert purged.status_code == 204
    assert (
        office.client.get(
            f"{office.api}/safety/campaigns/{drill['id']}", headers=office.staff
        ).status_code
        == 404
    )
    # the live campaign's report is untouched; the drill left nothing behind
    assert len(history(office, live["id"], resident["id"])["history"]) == 1
    assert _count(office, Report) == 1
    assert _count(office, Campaign) == campaigns_before - 1
    assert "safety.campaign_purge" in audit_actions(office)
    _purged_twice_at_once(office, monkeypatch)

    # every route of the service, for every role (the roles are signed in already here)
    admits_exactly_its_roles(office, depot)


def _purged_twice_at_once(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    """A drill purged twice at the same moment (a double click): 204, then 404, one purge
    audited. The first to read the campaign waits (up to a second) for the other to read it
    too, so both would find it if nothing ordered them; on PostgreSQL both then answered
    204 and two purges were audited."""
    drill = open_campaign(office, kind="drill")
    read = service.get
    read_then_wait = meeting_after(read)

    monkeypatch.setattr(service, "get", read_then_wait)
    path = f"{office.api}/safety/campaigns/{drill['id']}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: office.client.delete(path, headers=office.staff), "ab"))
    monkeypatch.setattr(service, "get", read)
    assert sorted(a.status_code for a in answers) == [204, 404], [a.text for a in answers]
    purges = [e for e in audit_entries(office) if e["action"] == "safety.campaign_purge"]
    assert [e["subject_id"] for e in purges].count(drill["id"]) == 1


def _count(office: Office, table: type[Campaign] | type[Report]) -> int:
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        count: int = uow.session.execute(select(func.count()).select_from(table)).scalar_one()
        return count
