"""The open mobile form: anyone may send (rate-limited, no sign-in); the submission is matched
to residents by kana, name, birth date and 町字, and nothing reaches a resident's status
until staff confirm a resident (a candidate or another), or reject it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from safety_check.reports import form
from safety_check.reports.models import Submission
from tests.safety_check.conftest import Office, at, audit_actions, history, open_campaign
from tests.safety_check.together import meeting_after


def form_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        # typed on a phone: hiragana, an ideographic space, full-width digits in the town
        "family_kana": "さとう",
        "given_kana": "はなこ　",
        "family_name": "佐藤",
        "given_name": "花子",
        "birth_date": "1980-05-06",
        "town_name": "一番町１丁目",
        "status": "safe",
        "reported_at": at(0),
        "reporter_kind": "family",
        "reporter_name": "佐藤一郎",
        "reporter_contact": "090-0000-0000",
        "note": "避難所で会いました",
    }
    payload.update(overrides)
    return payload


def _submissions(office: Office) -> int:
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        count: int = uow.session.execute(select(func.count()).select_from(Submission)).scalar_one()
        return count


def test_the_open_form_is_matched_and_reviewed_by_staff(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    hanako = office.register(address={"town_name": "一番町一丁目", "block": "1"})
    namesake = office.register(birth_date="1950-01-01")
    blocked = office.register(given_name="ユキ", given_kana="ユキ")
    office.block(blocked["id"])
    campaign = open_campaign(office)
    url = f"{office.api}/safety/campaigns/{campaign['id']}/form"
    queue_url = f"{office.api}/safety/campaigns/{campaign['id']}/submissions"

    body = form_payload()
    sent = office.client.post(url, json=body)  # no sign-in
    assert sent.status_code == 202, sent.text
    assert set(sent.json()) == {"id", "received_at"}
    again = office.client.post(url, json=body)
    assert again.status_code == 200 and again.json() == sent.json()
    assert office.client.post(url, json={**body, "status": "injured"}).status_code == 409
    # someone nobody knows, and a DV-blocked resident: the same answer, nothing told
    nobody = office.client.post(url, json=form_payload(family_kana="だれ", family_name="誰"))
    about_blocked = office.client.post(
        url, json=form_payload(given_kana="ゆき", given_name="ユキ", status="needs_help")
    )
    assert nobody.status_code == about_blocked.status_code == 202
    assert set(nobody.json()) == set(about_blocked.json()) == {"id", "received_at"}
    assert _submissions(office) == 3
    # nothing reaches anyone's status before staff review
    assert history(office, campaign["id"], hanako["id"])["current"] is None

    # bad input: refused whole, nothing stored
    for case, bad in {
        "no name": form_payload(family_kana="", given_kana="", family_name="", given_name=""),
        "family name only": form_payload(given_kana="", given_name=""),
        "no birth date nor town": form_payload(birth_date=None, town_name=""),
        "believed_dead": form_payload(status="believed_dead"),
        "unknown status": form_payload(status="fine"),
        "future": form_payload(reported_at=at(3600)),
        "before the campaign": form_payload(reported_at="2020-01-01T00:00:00+09:00"),
        "long note": form_payload(note="あ" * 2001),
        "control character": form_payload(reporter_name="a\x07"),
        "not a date": form_payload(birth_date="1980/05/06"),
        "reporter": form_payload(reporter_kind="staff_call"),
    }.items():
        response = office.client.post(url, json=bad)
        assert response.status_code == 422, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert office.client.post(url, json=form_payload(note="x" * 2_000_000)).status_code == 413
    elsewhere = f"{office.api}/safety/campaigns/{uuid.uuid4()}/form"
    assert office.client.post(elsewhere, json=form_payload()).status_code == 404
    assert _submissions(office) == 3

    # the queue: oldest first, with the candidates scored; staff see the DV flag
    assert office.client.get(queue_url, headers=office.shelter).status_code == 403
    assert office.client.get(queue_url).status_code == 401
    queue = office.client.get(queue_url, headers=office.auditor).json()["submissions"]
    assert [item["id"] for item in queue] == [
        body["id"],
        nobody.json()["id"],
        about_blocked.json()["id"],
    ]
    first, unknown, flagged = queue
    assert first["match"] == "exact"
    assert first["candidates"][0]["resident_id"] == hanako["id"]
    assert set(first["candidates"][0]["matches"]) == {"kana", "name", "birth_date", "town"}
    assert namesake["id"] in [c["resident_id"] for c in first["candidates"]]  # partial
    assert unknown["match"] == "none" and unknown["candidates"] == []
    assert flagged["match"] == "exact"
    assert flagged["candidates"][0]["resident_id"] == blocked["id"]
    assert flagged["candidates"][0]["dv_block"] is True
    paged = office.client.get(queue_url, params={"limit": 2}, headers=office.staff).json()
    rest = office.client.get(
        queue_url, params={"limit": 2, "cursor": paged["next_cursor"]}, headers=office.staff
    ).json()
    assert [s["id"] for s in paged["submissions"] + rest["submissions"]] == [s["id"] for s in queue]
    only_exact = office.client.get(queue_url, params={"match": "exact"}, headers=office.staff)
    assert [s["id"] for s in only_exact.json()["submissions"]] == [body["id"], flagged["id"]]
    assert (
        office.client.get(queue_url, params={"cursor": "x"}, headers=office.staff).status_code
        == 422
    )

    # confirm: the report is the resident's, recorded by the staff member, from the form
    confirm = f"{queue_url}/{first['id']}/confirm"
    assert (
        office.client.post(
            confirm, json={"resident_id": hanako["id"]}, headers=office.auditor
        ).status_code
        == 403
    )
    done = office.client.post(confirm, json={"resident_id": hanako["id"]}, headers=office.staff)
    assert done.status_code == 200, done.text
    assert done.json()["review"] == "confirmed" and done.json()["report_id"]
    current = history(office, campaign["id"], hanako["id"])["current"]
    assert current["status"] == "safe" and current["source"] == "open_form"
    assert current["recorded_by"] == "staff1" and current["reporter_kind"] == "family"
    assert current["note"] == "避難所で会いました"
    again = office.client.post(confirm, json={"resident_id": hanako["id"]}, headers=office.staff)
    assert again.status_code == 409
    # pick another resident than the candidates; an unknown one is 404
    other = f"{queue_url}/{unknown['id']}/confirm"
    stranger = {"resident_id": str(uuid.uuid4())}
    assert office.client.post(other, json=stranger, headers=office.staff).status_code == 404
    picked = office.client.post(other, json={"resident_id": namesake["id"]}, headers=office.staff)
    assert picked.status_code == 200
    assert history(office, campaign["id"], namesake["id"])["current"]["source"] == "open_form"
    rejected = office.client.post(f"{queue_url}/{flagged['id']}/reject", headers=office.staff)
    assert rejected.status_code == 200 and rejected.json()["review"] == "rejected"
    assert history(office, campaign["id"], blocked["id"])["current"] is None
    assert office.client.get(queue_url, headers=office.staff).json()["submissions"] == []
    reviewed = office.client.get(queue_url, params={"review": "confirmed"}, headers=office.staff)
    assert len(reviewed.json()["submissions"]) == 2
    actions = audit_actions(office)
    for action in ("safety.form_submission", "safety.review_queue", "safety.submission_confirm"):
        assert action in actions

    _reviewed_by_two_at_once(office, campaign, hanako["id"], monkeypatch)

    # a drill's purge takes its submissions with it
    drill = open_campaign(office, kind="drill")
    drill_form = f"{office.api}/safety/campaigns/{drill['id']}/form"
    assert office.client.post(drill_form, json=form_payload()).status_code == 202
    purge = office.client.delete(
        f"{office.api}/safety/campaigns/{drill['id']}", headers=office.staff
    )
    assert purge.status_code == 204
    assert _submissions(office) == 4


def _reviewed_by_two_at_once(
    office: Office, campaign: dict[str, Any], resident_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One staff member confirms a submission while another rejects it: one of them is
    told it was reviewed already (409), and the queue says what happened. The first to
    find it pending waits (up to a second) for the other to find it too, so both would
    succeed if nothing ordered them (a report for a submission marked rejected)."""
    url = f"{office.api}/safety/campaigns/{campaign['id']}/form"
    sent = office.client.post(url, json=form_payload(note="二人が同時に確認"))
    assert sent.status_code == 202, sent.text
    submission = f"{office.api}/safety/campaigns/{campaign['id']}/submissions/{sent.json()['id']}"
    find = form._pending
    find_then_wait = meeting_after(find)

    monkeypatch.setattr(form, "_pending", find_then_wait)
    with ThreadPoolExecutor(max_workers=2) as pool:
        confirmed, rejected = pool.map(
            lambda action: office.client.post(
                f"{submission}/{action}", json={"resident_id": resident_id}, headers=office.staff
            ),
            ("confirm", "reject"),
        )
    monkeypatch.setattr(form, "_pending", find)
    answers = sorted((confirmed.status_code, rejected.status_code))
    assert answers == [200, 409], (confirmed.text, rejected.text)
    reviewed = office.client.get(
        f"{office.api}/safety/campaigns/{campaign['id']}/submissions",
        params={"review": "confirmed" if confirmed.status_code == 200 else "rejected"},
        headers=office.staff,
    ).json()["submissions"]
    assert sent.json()["id"] in [item["id"] for item in reviewed]
    notes = [r["note"] for r in history(office, campaign["id"], resident_id)["history"]]
    assert ("二人が同時に確認" in notes) == (confirmed.status_code == 200)
