"""The staff views: counts by status per 町字, and the unconfirmed list, needs-assistance first."""

from __future__ import annotations

from typing import Any

from tests.safety_check.conftest import (
    Office,
    audit_actions,
    open_campaign,
    report,
    report_payload,
)

SECOND_TOWN = {"town_code": "0010002", "town_name": "二番町", "block": "1"}


def _get(office: Office, path: str, **params: Any) -> dict[str, Any]:
    response = office.client.get(f"{office.api}{path}", params=params, headers=office.staff)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_counts_and_the_unconfirmed_list(office: Office) -> None:
    assisted = office.register(given_name="ハル", given_kana="ハル")
    blocked = office.register(given_name="ユキ", given_kana="ユキ")
    safe = office.register(address=SECOND_TOWN)
    sought = office.register(address=SECOND_TOWN)
    entry = office.client.put(
        f"{office.api}/residents/{assisted['id']}/assistance",
        json={"reasons": ["elderly_alone"], "priority": 1},
        headers=office.staff,
    )
    assert entry.status_code == 200, entry.text
    office.block(blocked["id"])
    campaign, drill = open_campaign(office), open_campaign(office, kind="drill")
    for resident, status in ((safe, "safe"), (sought, "information_sought")):
        body = report_payload(resident["id"], status=status)
        assert report(office, campaign["id"], body).status_code == 201
    # a drill's reports never count in a live campaign
    for resident in (assisted, blocked):
        assert report(office, drill["id"], report_payload(resident["id"])).status_code == 201

    counts = _get(office, f"/safety/campaigns/{campaign['id']}/districts")
    assert counts["districts"] == [
        {"town_name": "一番町一丁目", "residents": 2, "counts": {}, "unconfirmed": 2},
        {
            "town_name": "二番町",
            "residents": 2,
            "counts": {"information_sought": 1, "safe": 1},
            "unconfirmed": 1,
        },
    ]
    assert counts["total"]["residents"] == 4 and counts["total"]["unconfirmed"] == 3

    listed = _get(office, f"/safety/campaigns/{campaign['id']}/unconfirmed")
    assert [item["resident_id"] for item in listed["needs_assistance"]] == [assisted["id"]]
    first = listed["needs_assistance"][0]
    assert first["priority"] == 1 and first["address"].startswith("一番町一丁目")
    others = {item["resident_id"]: item for item in listed["residents"]}
    assert set(others) == {blocked["id"], sought["id"]}  # the safe resident is confirmed
    assert others[blocked["id"]]["dv_block"] is True  # staff see the person, flagged
    assert others[sought["id"]]["status"] == "information_sought"
    assert listed["next_cursor"] is None

    # a page at a time, at most `limit` people a page: the needs-assistance register first
    # (paged too: a large town's register never lands on one page), then everyone else
    page = _get(office, f"/safety/campaigns/{campaign['id']}/unconfirmed", limit=1)
    assert [item["resident_id"] for item in page["needs_assistance"]] == [assisted["id"]]
    assert page["residents"] == [] and page["next_cursor"]
    seen: list[str] = []
    while page["next_cursor"]:
        page = _get(
            office,
            f"/safety/campaigns/{campaign['id']}/unconfirmed",
            limit=1,
            cursor=page["next_cursor"],
        )
        assert page["needs_assistance"] == []
        assert len(page["residents"]) <= 1
        seen += [item["resident_id"] for item in page["residents"]]
    assert sorted(seen) == sorted(others)
    bad = office.client.get(
        f"{office.api}/safety/campaigns/{campaign['id']}/unconfirmed",
        params={"cursor": "a:many"},
        headers=office.staff,
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert "safety.unconfirmed_list" in audit_actions(office)

    for view in ("districts", "unconfirmed"):
        path = f"{office.api}/safety/campaigns/{campaign['id']}/{view}"
        assert office.client.get(path, headers=office.auditor).status_code == 200
        assert office.client.get(path, headers=office.shelter).status_code == 403
        assert office.client.get(path, headers=office.admin).status_code == 403


def test_a_register_longer_than_a_page_is_paged_skipping_the_confirmed(office: Office) -> None:
    """The register is read from the registry a part at a time: with limit=2 and five
    entries (one confirmed), the pages list the four others in priority order, each
    once, then the rest of the roster."""
    names = ["アキ", "イネ", "ウメ", "エミ", "オト"]
    people = [office.register(given_name=name, given_kana=name) for name in names]
    plain = office.register(given_name="フツウ", given_kana="フツウ")
    # priority 1-3, then by reading: the order is the list's
    for priority, person in zip((1, 1, 2, 2, 3), people, strict=True):
        entry = office.client.put(
            f"{office.api}/residents/{person['id']}/assistance",
            json={"reasons": ["elderly_alone"], "priority": priority},
            headers=office.staff,
        )
        assert entry.status_code == 200, entry.text
    campaign = open_campaign(office)
    confirmed = people[2]
    assert report(office, campaign["id"], report_payload(confirmed["id"])).status_code == 201

    pages, cursor = [], ""
    while True:
        page = _get(
            office, f"/safety/campaigns/{campaign['id']}/unconfirmed", limit=2, cursor=cursor
        )
        assert len(page["needs_assistance"]) + len(page["residents"]) <= 2
        pages.append(page)
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assisted = [item["resident_id"] for p in pages for item in p["needs_assistance"]]
    assert assisted == [p["id"] for p in people if p is not confirmed]  # priority order
    assert len(pages[0]["needs_assistance"]) == 2 and pages[0]["residents"] == []
    rest = [item["resident_id"] for p in pages for item in p["residents"]]
    assert plain["id"] in rest and not set(rest) & set(assisted)
