"""Campaigns opened by alerts through the one intake (`POST /alerts/v1/ingest`): the
municipality's rules (defaults, set by its admin), one campaign per alert whatever the
deliveries, the series rule, drills from exercises, and who may change the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from assembly.site import create_app
from failover.alerts import EvacuationSettings
from failover.alerts.announce import announce
from failover.alerts.api import AlertIntake
from tests.safety_check.campaigns.cap import QUAKE_AREA, cap_alert, minutes_ago, reference_to
from tests.safety_check.conftest import Office, audit_actions
from tests.support.factories import CHIYODA, SENDAI, sign_in, tenant, user
from yui.db.database import Database
from yui.hazard_alerts import parse_alert
from yui.settings import Settings

TOKEN = "alert-intake-" + "s" * 40
XML = {"Content-Type": "application/cap+xml", "Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    """The site with its alert intake configured (no sites to evacuate)."""
    intake = AlertIntake(sites=(), settings=EvacuationSettings(), token=TOKEN, trigger=None)
    return create_app(settings, db, migrate=False, alerts=intake)


def _ingest(office: Office, body: bytes) -> dict[str, Any]:
    answer = office.client.post("/alerts/v1/ingest", content=body, headers=XML)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _campaigns(office: Office) -> list[dict[str, Any]]:
    answer = office.client.get(f"{office.api}/safety/campaigns", headers=office.staff)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def test_an_alert_opens_one_held_campaign_a_series_joins_it_and_who_sets_rules(
    office: Office,
) -> None:
    """One test (each pays the office's migration and sign-ins)."""
    tenant(office.db, CHIYODA, "千代田区")  # Tokyo's defaults: a Miyagi quake is not theirs
    rules = office.client.get(f"{office.api}/safety/alert-rules", headers=office.staff).json()
    assert rules["customised"] is False and rules["quake_area_codes"] == ["04"]
    assert rules["min_intensity_name"] == "5弱" and rules["hold_minutes"] == 10

    first_sent = minutes_ago(2)
    first = cap_alert("quake-1", sent=first_sent)
    told = _ingest(office, first)["tenants"]
    assert told == {"told": [SENDAI, CHIYODA], "skipped": {}}
    [campaign] = _campaigns(office)
    assert campaign["state"] == "pending" and campaign["origin"] == "alert"
    assert campaign["kind"] == "live" and campaign["hazard"] == "earthquake"
    assert campaign["open"] is True and campaign["released_at"] is None
    opened = datetime.fromisoformat(campaign["opened_at"])
    assert datetime.fromisoformat(campaign["hold_until"]) == opened + timedelta(minutes=10)
    [notice] = campaign["notices"]
    assert notice["role"] == "opened" and notice["alert_identifier"] == "quake-1"
    assert "10 分保留" in notice["notice"] and "held 10 min" in notice["notice"]
    user(office.db, CHIYODA, "chiyoda-staff", "staff")  # not theirs: nothing opened there
    theirs = sign_in(office.client, CHIYODA, "chiyoda-staff")
    assert office.client.get(f"/api/v1/{CHIYODA}/safety/campaigns", headers=theirs).json() == []

    # the same alert again, and delivered to another site's intake: still one campaign
    _ingest(office, first)
    again = announce(
        parse_alert(first),
        office.db,
        [SENDAI],
        site="gcp-osaka",
        now=datetime.now(UTC),
    )
    assert again.told == (SENDAI,)
    [same] = _campaigns(office)
    assert same["id"] == campaign["id"] and len(same["notices"]) == 1

    # a further quake in the same area within 6 hours opens nothing new; staff are told
    _ingest(office, cap_alert("quake-2", sent=first_sent + timedelta(minutes=1)))
    # an update of the first alert is a notice too
    update = cap_alert(
        "quake-1-update", msg_type="Update", references=reference_to("quake-1", first_sent)
    )
    _ingest(office, update)
    [joined] = _campaigns(office)
    roles = [notice["role"] for notice in joined["notices"]]
    assert roles == ["opened", "series", "update"]
    series = joined["notices"][1]
    assert "6 時間以内" in series["notice"] and "within 6 h" in series["notice"]
    assert series["alert_identifier"] == "quake-2" and series["areas"] == "宮城県中部"
    actions = audit_actions(office)
    assert actions.count("safety.campaign_open") == 1
    assert actions.count("safety.campaign_alert") == 2

    # the admin names the municipality's own area (宮城県南部 only) and removes the hold
    rules_url = f"{office.api}/safety/alert-rules"
    own = {"quake_area_codes": ["221"], "min_intensity": "5強", "hold_minutes": 0}
    changed = office.client.put(rules_url, json=own, headers=office.admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["customised"] is True and changed.json()["min_intensity"] == "5+"
    assert "safety.alert_rules" in audit_actions(office)
    # 宮城県中部 is no longer ours: nothing happens
    _ingest(office, cap_alert("quake-3", codes=((QUAKE_AREA, "222"),)))
    assert len(_campaigns(office)) == 1
    # an exercise in our area opens a drill, open at once (no hold), apart from the live one
    exercise = cap_alert(
        "drill-1", status="Exercise", severity="Extreme", codes=((QUAKE_AREA, "221"),)
    )
    _ingest(office, exercise)
    drill, live = _campaigns(office)
    assert drill["kind"] == "drill" and drill["state"] == "open" and drill["hold_until"] is None
    assert drill["released_by"] == "system:alerts" and drill["title"].startswith("【訓練】")
    assert live["id"] == campaign["id"]
    # a Test never opens one
    _ingest(office, cap_alert("test-1", status="Test", codes=((QUAKE_AREA, "221"),)))
    assert len(_campaigns(office)) == 2

    # who may change the rules; bad rules change nothing
    url = rules_url
    good = {"quake_area_codes": ["222"], "tsunami_area_codes": ["311"]}
    for headers in (office.staff, office.auditor, office.shelter):
        assert office.client.put(url, json=good, headers=headers).status_code == 403
    assert office.client.put(url, json=good).status_code == 401
    for headers in (office.staff, office.auditor, office.admin):
        assert office.client.get(url, headers=headers).status_code == 200
    assert office.client.get(url, headers=office.shelter).status_code == 403
    before = office.client.get(url, headers=office.admin).json()
    for bad in (
        {},  # the quake areas must be named
        {**good, "min_intensity": "8"},
        {**good, "min_intensity": "５弱"},
        {**good, "quake_area_codes": ["22 2"]},
        {**good, "quake_area_codes": ["222\x00"]},
        {**good, "quake_area_codes": [str(n) for n in range(201)]},
        {**good, "hold_minutes": -1},
        {**good, "hold_minutes": 121},
        {**good, "series_hours": 73},
        {**good, "enabled": "perhaps"},
    ):
        answer = office.client.put(url, json=bad, headers=office.admin)
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"] == "application/problem+json"
    assert office.client.get(url, headers=office.admin).json() == before
    assert audit_actions(office).count("safety.alert_rules") == 1

    _the_series_window_ends_and_a_closed_campaign_takes_no_series(office)


def _the_series_window_ends_and_a_closed_campaign_takes_no_series(office: Office) -> None:
    """The series rule's bounds (the rules now: 宮城県南部 221, no hold): 6 hours from the
    campaign's alert, and a pending or open campaign only."""
    start = datetime.now(UTC) - timedelta(hours=8)

    def quake(identifier: str, after: timedelta) -> dict[str, list[str]]:
        """The alert told as received a minute after it was sent; then each campaign of
        these quakes by its first alert: the identifiers of its notices."""
        sent = start + after
        alert = parse_alert(cap_alert(identifier, sent=sent, codes=((QUAKE_AREA, "221"),)))
        told = announce(alert, office.db, [SENDAI], site="test", now=sent + timedelta(minutes=1))
        assert told.told == (SENDAI,)
        return {
            c["notices"][0]["alert_identifier"]: [n["alert_identifier"] for n in c["notices"]]
            for c in _campaigns(office)
            if c["notices"] and c["notices"][0]["alert_identifier"].startswith("south-")
        }

    assert quake("south-0", timedelta(0)) == {"south-0": ["south-0"]}
    # within 6 hours of the campaign's alert: joins it
    assert quake("south-1", timedelta(hours=5, minutes=59)) == {"south-0": ["south-0", "south-1"]}
    # 6 hours after it: a campaign of its own
    apart = quake("south-2", timedelta(hours=6, minutes=1))
    assert apart == {"south-0": ["south-0", "south-1"], "south-2": ["south-2"]}
    [newest] = [
        c
        for c in _campaigns(office)
        if c["notices"] and c["notices"][0]["alert_identifier"] == "south-2"
    ]
    closed = office.client.post(
        f"{office.api}/safety/campaigns/{newest['id']}/close", headers=office.staff
    )
    assert closed.status_code == 200, closed.text
    # within the window of a campaign staff closed: a new one (a new quake, a new check)
    assert quake("south-3", timedelta(hours=6, minutes=30))["south-3"] == ["south-3"]
