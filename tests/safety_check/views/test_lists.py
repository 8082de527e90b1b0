"""The other staff views: counts over time and the response-rate curve, door-to-door visit
lists (JSON, CSV, print HTML), residents whose reports disagree; their bad input and roles."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from tests.safety_check.conftest import (
    Office,
    audit_actions,
    open_campaign,
    report,
    report_payload,
)
from tests.safety_check.reports.test_current import backdate

SECOND_TOWN = {"town_code": "0010002", "town_name": "二番町", "block": "5-1"}


def _get(office: Office, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return office.client.get(f"{office.api}{path}", params=params, headers=headers or office.staff)


def _at(opened: datetime, minutes: float) -> str:
    return (opened + timedelta(minutes=minutes)).isoformat()


def test_curves_visit_lists_and_disagreements(office: Office) -> None:
    assisted = office.register(given_name="ハル", given_kana="ハル", address=SECOND_TOWN)
    blocked = office.register(given_name="ユキ", given_kana="ユキ", address=SECOND_TOWN)
    answered = office.register(address=SECOND_TOWN)
    formula = office.register(phone="+81-90-1234-5678", address=SECOND_TOWN)
    elsewhere = office.register()
    assert (
        office.client.put(
            f"{office.api}/residents/{assisted['id']}/assistance",
            json={"reasons": ["elderly_alone"], "priority": 1},
            headers=office.staff,
        ).status_code
        == 200
    )
    office.block(blocked["id"])
    campaign = open_campaign(office)
    base = f"/safety/campaigns/{campaign['id']}"
    opened = backdate(office, campaign, hours=2)
    # answered: needs help at 0:10 (a neighbour), safe at 0:40 (staff, another reporter):
    # reports within two hours that disagree
    neighbour = report_payload(
        answered["id"], status="needs_help", reporter_kind="family", reported_at=_at(opened, 10)
    )
    assert report(office, campaign["id"], neighbour, office.shelter).status_code == 201
    fine = report_payload(answered["id"], status="safe", reported_at=_at(opened, 40))
    assert report(office, campaign["id"], fine).status_code == 201
    sought = report_payload(
        elsewhere["id"], status="information_sought", reported_at=_at(opened, 70)
    )
    assert report(office, campaign["id"], sought).status_code == 201

    # counts over time, every 30 minutes, for one 町字 and for all
    timeline = _get(office, f"{base}/timeline", interval=1800, town="二番町").json()
    points = [(p["at"], p["counts"]) for p in timeline["points"]]
    assert points[0][1] == {"needs_help": 1}  # at 0:30
    assert points[1][1] == {"safe": 1}  # at 1:00
    assert points[-1][1] == {"safe": 1}
    whole = _get(office, f"{base}/timeline", interval=1800).json()["points"]
    assert whole[2]["counts"] == {"information_sought": 1, "safe": 1}  # at 1:30
    rate = _get(office, f"{base}/response-rate", interval=1800).json()
    assert rate["residents"] == 5
    assert [(p["reported"], p["confirmed"]) for p in rate["points"][:3]] == [
        (1, 1),
        (1, 1),
        (2, 1),
    ]
    assert rate["points"][2]["reported_rate"] == 0.4

    # the visit list of 二番町: the unconfirmed, needs-assistance first, with address;
    # the DV-blocked resident listed for staff, flagged
    visits = _get(office, f"{base}/visits", town="二番町").json()
    assert [v["resident_id"] for v in visits["needs_assistance"]] == [assisted["id"]]
    others = {v["resident_id"]: v for v in visits["residents"]}
    assert set(others) == {blocked["id"], formula["id"]}  # answered is confirmed (safe)
    assert others[blocked["id"]]["dv_block"] is True
    assert others[formula["id"]]["address"].startswith("二番町")
    page = _get(office, f"{base}/visits", town="二番町", limit=1).json()
    assert len(page["residents"]) == 1 and page["next_cursor"]
    rest = _get(office, f"{base}/visits", town="二番町", limit=1, cursor=page["next_cursor"])
    assert rest.json()["needs_assistance"] == [] and len(rest.json()["residents"]) == 1

    as_csv = _get(office, f"{base}/visits.csv", town="二番町")
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["優先度", "氏名"] and len(rows) == 4
    assert rows[1][0] == "1"  # needs-assistance first
    assert "'+81-90-1234-5678" in [row[5] for row in rows]  # never read as a formula
    assert any(row[8].startswith("DV等支援措置") for row in rows)
    page_html = _get(office, f"{base}/visits.html", town="二番町")
    assert page_html.headers["content-type"].startswith("text/html")
    assert "script-src" not in page_html.headers["content-security-policy"]
    text = page_html.text
    assert "@page" in text and "<script" not in text and "+81-90-1234-5678" in text
    assert "二番町" in text and text.count("<tr") == 4

    disagreeing = _get(office, f"{base}/disagreements").json()
    assert [r["resident_id"] for r in disagreeing["residents"]] == [answered["id"]]
    assert [r["status"] for r in disagreeing["residents"][0]["reports"]] == ["safe", "needs_help"]
    assert _get(office, f"{base}/disagreements", town="一番町一丁目").json()["residents"] == []
    actions = audit_actions(office)
    assert "safety.visit_list" in actions and "safety.disagreements" in actions

    # bad input: 422, problem+json
    for path, params in (
        ("timeline", {"interval": 90}),
        ("timeline", {"interval": 30}),
        ("response-rate", {"interval": 60 * 60 * 25}),
        ("visits", {}),
        ("visits", {"town": ""}),
        ("visits.csv", {"town": "二番町", "limit": 0}),
        ("disagreements", {"town": "x\x00"}),
    ):
        response = _get(office, f"{base}/{path}", **params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # a week-long campaign at one-minute steps is too many points
    backdate(office, campaign, hours=24 * 7)
    assert _get(office, f"{base}/timeline", interval=60).status_code == 422
    assert _get(office, f"{base}/timeline", interval=3600).status_code == 200

    # roles: auditors read; shelters, admins do not
    for path in ("timeline", "response-rate", "visits.html", "disagreements"):
        params = {"town": "二番町"}
        assert _get(office, f"{base}/{path}", office.auditor, **params).status_code == 200
        assert _get(office, f"{base}/{path}", office.shelter, **params).status_code == 403
        assert _get(office, f"{base}/{path}", office.admin, **params).status_code == 403
