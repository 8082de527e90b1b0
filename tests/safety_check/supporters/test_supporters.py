"""Supporters get the list of the people they check on and report for them through their
personal signed link; staff see each supporter's progress; a resident's one-tap link
reports for the other members of their household. A DV-blocked resident is on no
supporter's list and in no household list."""

from __future__ import annotations

import time
import uuid
from typing import Any

from safety_check.links import signing
from tests.safety_check.conftest import Office, at, audit_actions, history, open_campaign
from tests.support.factories import CHIYODA, tenant
from yui.auth.tokens import SigningKeys

MINSEI = {"name": "山田 太郎", "role": "民生委員", "phone": "022-111-2222"}


def _keys(office: Office) -> SigningKeys:
    keys: SigningKeys = office.client.app.state.yui.token_keys  # type: ignore[attr-defined]
    return keys


def _assist(office: Office, resident: dict[str, Any], *supporters: dict[str, str]) -> None:
    response = office.client.put(
        f"{office.api}/residents/{resident['id']}/assistance",
        json={"reasons": ["elderly_alone"], "priority": 1, "supporters": list(supporters)},
        headers=office.staff,
    )
    assert response.status_code == 200, response.text


def _report(resident_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"id": str(uuid.uuid4()), "resident_id": resident_id, "status": "safe"}
    return {**body, "reported_at": at(0), **overrides}


def test_supporters_lists_reports_progress_and_household_reports(office: Office) -> None:
    first = office.register(given_name="一", given_kana="ハジメ", household_no="H-SATO")
    second = office.register(given_name="二郎", given_kana="ジロウ")
    blocked = office.register(given_name="ユキ", given_kana="ユキ")
    child = office.register(
        given_name="子", given_kana="ネ", household_no="H-SATO", relationship="子"
    )
    hidden = office.register(
        given_name="隠", given_kana="カクレ", household_no="H-SATO", relationship="子"
    )
    office.block(hidden["id"])
    # the same 民生委員, written with other spaces and phone punctuation, for three people
    _assist(office, first, MINSEI)
    _assist(office, second, {**MINSEI, "name": "山田太郎", "phone": "0221112222"})
    _assist(office, blocked, MINSEI, {"name": "鈴木 花", "role": "近隣住民"})
    office.block(blocked["id"])
    campaign = open_campaign(office)
    progress_url = f"{office.api}/safety/campaigns/{campaign['id']}/supporters"

    staff_view = office.client.get(progress_url, headers=office.staff).json()["supporters"]
    by_name = {row["name"].replace(" ", ""): row for row in staff_view}
    assert set(by_name) == {"山田太郎", "鈴木花"}  # one person, however written
    yamada = by_name["山田太郎"]
    assert (yamada["assigned"], yamada["confirmed"]) == (3, 0)  # staff count everyone
    assert yamada["token"]
    auditor_view = office.client.get(progress_url, headers=office.auditor).json()
    assert all(row["token"] is None for row in auditor_view["supporters"])  # no credentials
    assert office.client.get(progress_url, headers=office.shelter).status_code == 403
    page = office.client.get(progress_url, params={"limit": 1}, headers=office.staff).json()
    assert len(page["supporters"]) == 1 and page["next_cursor"]

    # the supporter's page: their people, never the DV-blocked one
    link = f"{office.api}/safety/supporter-links/{yamada['token']}"
    mine = office.client.get(link)
    assert mine.status_code == 200, mine.text
    people = {p["resident_id"]: p for p in mine.json()["people"]}
    assert set(people) == {first["id"], second["id"]}
    assert people[first["id"]]["address"].startswith("一番町一丁目")
    assert mine.json()["supporter"].replace(" ", "") == "山田太郎"

    sent = _report(first["id"], note="玄関先で会えた")
    recorded = office.client.post(f"{link}/reports", json=sent)
    assert recorded.status_code == 201, recorded.text
    assert office.client.post(f"{link}/reports", json=sent).status_code == 200
    current = history(office, campaign["id"], first["id"])["current"]
    assert current["reporter_kind"] == "supporter" and current["source"] == "supporter_link"
    assert current["recorded_by"] == f"supporter:{yamada['supporter_id']}"
    for bad, code in (
        (_report(blocked["id"]), 404),  # not on their list (for them)
        (_report(child["id"]), 404),  # not one of theirs
        (_report(second["id"], status="believed_dead"), 422),
        (_report(second["id"], reported_at=at(3600)), 422),
        (_report(second["id"], note="x" * 2001), 422),
    ):
        assert office.client.post(f"{link}/reports", json=bad).status_code == code
    assert history(office, campaign["id"], second["id"])["current"] is None
    after = office.client.get(progress_url, headers=office.staff).json()["supporters"]
    assert {r["supporter_id"]: r["confirmed"] for r in after}[yamada["supporter_id"]] == 1
    assert office.client.get(link).json()["people"][0]["status"] in ("safe", None)

    # links that are not this supporter's
    keys = _keys(office)
    expires = int(time.time()) + 600
    resident_token = signing.issue(
        signing.LinkClaims(office.code, campaign["id"], first["id"], expires), keys
    )
    expired = signing.issue(
        signing.LinkClaims(office.code, campaign["id"], yamada["supporter_id"], 1), keys
    )
    forged = yamada["token"][:-2] + ("AA" if yamada["token"][-2:] != "AA" else "BB")
    for token, code in ((resident_token, 403), (expired, 410), (forged, 403)):
        response = office.client.get(f"{office.api}/safety/supporter-links/{token}")
        assert response.status_code == code, response.text
        assert response.headers["content-type"] == "application/problem+json"
    tenant(office.db, CHIYODA, "千代田区")
    theirs = office.client.get(f"/api/v1/{CHIYODA}/safety/supporter-links/{yamada['token']}")
    assert theirs.status_code == 403
    assert "safety.supporter_list" in audit_actions(office)

    # a family: the first resident's one-tap link reports for their child
    household = f"{office.api}/safety/links/{resident_token}/household"
    members = office.client.get(household)
    assert members.status_code == 200, members.text
    listed = members.json()["members"]
    assert [m["resident_id"] for m in listed] == [child["id"]]
    assert set(listed[0]) == {"resident_id", "family_name", "given_name", "status"}
    for_child = _report(child["id"], status="at_shelter", shelter="一番町小学校")
    assert office.client.post(f"{household}/reports", json=for_child).status_code == 201
    current = history(office, campaign["id"], child["id"])["current"]
    assert current["reporter_kind"] == "family" and current["source"] == "household"
    assert current["recorded_by"] == f"resident:{first['id']}"
    assert office.client.post(f"{household}/reports", json=_report(second["id"])).status_code == 404
    # a DV-blocked member of the household is neither listed (above) nor reported on
    hidden_report = office.client.post(f"{household}/reports", json=_report(hidden["id"]))
    assert hidden_report.status_code == 404
    assert history(office, campaign["id"], hidden["id"])["current"] is None
    # a supporter's token is no resident's link
    supporter_household = f"{office.api}/safety/links/{yamada['token']}/household"
    assert office.client.get(supporter_household).json()["members"] == []
    # the holder's own one-tap report is marked as verified through the link
    own = {"id": str(uuid.uuid4()), "status": "safe", "reported_at": at(0)}
    one_tap = office.client.post(f"{office.api}/safety/links/{resident_token}/reports", json=own)
    assert one_tap.status_code == 201, one_tap.text
    assert history(office, campaign["id"], first["id"])["current"]["source"] == "one_tap"
