"""Campaigns: staff open and close them; a drill is kept apart and can be purged."""

from __future__ import annotations

from sqlalchemy import func, select

from safety_check.campaigns.models import Campaign
from safety_check.reports.models import Report
from tests.safety_check.conftest import (
    Office,
    audit_actions,
    history,
    open_campaign,
    report,
    report_payload,
)
from tests.support.factories import CHIYODA, sign_in, tenant, user


def test_staff_open_list_and_close_a_campaign(office: Office) -> None:
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


def test_bad_campaign_input_is_refused(office: Office) -> None:
    url = f"{office.api}/safety/campaigns"
    for body in (
        {"title": "", "kind": "live"},
        {"title": "x", "kind": "exercise"},
        {"title": "a\x00"},
    ):
        response = office.client.post(url, json=body, headers=office.staff)
        assert response.status_code == 422, body
    assert office.client.get(url, headers=office.staff).json() == []


def test_roles_who_may_open_and_read(office: Office) -> None:
    url = f"{office.api}/safety/campaigns"
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


def test_another_tenants_campaign_is_not_found(office: Office) -> None:
    campaign = open_campaign(office)
    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "chiyoda-staff", "staff")
    theirs = sign_in(office.client, CHIYODA, "chiyoda-staff")
    path = f"/api/v1/{CHIYODA}/safety/campaigns/{campaign['id']}"
    assert office.client.get(path, headers=theirs).status_code == 404
    assert office.client.post(f"{path}/close", headers=theirs).status_code == 404
    # their token on our path: the same answer as for a tenant that does not exist
    ours = f"{office.api}/safety/campaigns/{campaign['id']}"
    assert office.client.get(ours, headers=theirs).status_code == 404


def test_a_drill_is_purged_with_its_reports_and_a_live_campaign_never(office: Office) -> None:
    resident = office.register()
    live, drill = open_campaign(office), open_campaign(office, kind="drill")
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
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        assert uow.session.execute(select(func.count()).select_from(Report)).scalar() == 1
        assert uow.session.execute(select(func.count()).select_from(Campaign)).scalar() == 1
    assert "safety.campaign_purge" in audit_actions(office)
