"""Resolving a disagreement: staff record what they found out as an explicit resolution
(who, when, the status kept, a note; audited), the resident leaves the open list, and a
later report that disagrees with the resolved status puts them back on it. Bad input,
roles, and the DV-block rule (non-staff never see a blocked resident)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from safety_check.campaigns import service as campaigns
from safety_check.reports.models import DisagreementResolution, Report
from tests.residents.conftest import log_entries
from tests.safety_check.conftest import (
    Office,
    history,
    open_campaign,
    report,
    report_payload,
)
from tests.safety_check.reports.test_current import backdate
from tests.safety_check.together import meeting_after
from yui.audit.models import AuditEntry


def _at(opened: datetime, minutes: float) -> str:
    return (opened + timedelta(minutes=minutes)).isoformat()


def _listed(office: Office, campaign_id: str, **params: Any) -> dict[str, Any]:
    response = office.client.get(
        f"{office.api}/safety/campaigns/{campaign_id}/disagreements",
        params=params,
        headers=office.staff,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(listing: dict[str, Any]) -> list[str]:
    return [person["resident_id"] for person in listing["residents"]]


def _resolve(
    office: Office,
    campaign_id: str,
    resident_id: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Any:
    return office.client.post(
        f"{office.api}/safety/campaigns/{campaign_id}/disagreements/{resident_id}/resolve",
        json=body,
        headers=headers or office.staff,
    )


def _resolution(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status": "safe",
        "reporter_kind": "door_to_door",
        "note": "自宅で本人と会った",
    }
    body.update(overrides)
    return body


def _rows(office: Office, model: Any) -> int:
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        return int(uow.session.execute(select(func.count()).select_from(model)).scalar_one())


def _disagree(office: Office, campaign: dict[str, Any], resident_id: str, opened: datetime) -> None:
    """A neighbour says they need help at 0:10, staff on the phone say safe at 0:40."""
    neighbour = report_payload(
        resident_id, status="needs_help", reporter_kind="family", reported_at=_at(opened, 10)
    )
    assert report(office, campaign["id"], neighbour, office.shelter).status_code == 201
    fine = report_payload(resident_id, status="safe", reported_at=_at(opened, 40))
    assert report(office, campaign["id"], fine).status_code == 201


def test_resolving_disagreements(office: Office) -> None:
    """One office for both (its staff accounts take seconds to make): each part has its
    own campaign."""
    _a_resolved_resident_leaves_the_open_list_until_a_report_disagrees_again(office)
    _bad_resolutions_roles_and_a_blocked_resident(office)
    _a_purged_drill_takes_its_resolutions(office)
    _resent_while_the_first_is_in_flight(office)


def _a_resolved_resident_leaves_the_open_list_until_a_report_disagrees_again(
    office: Office,
) -> None:
    person = office.register()
    calm = office.register(given_name="凪", given_kana="ナギ")
    campaign = open_campaign(office)
    # every report below lies within two hours of each other
    opened = backdate(office, campaign, hours=1)
    _disagree(office, campaign, person["id"], opened)
    assert report(office, campaign["id"], report_payload(calm["id"])).status_code == 201
    assert _ids(_listed(office, campaign["id"])) == [person["id"]]
    assert _listed(office, campaign["id"], state="resolved")["residents"] == []

    body = _resolution()
    logged = len(log_entries(office.db, office.code))
    resolved = _resolve(office, campaign["id"], person["id"], body)
    assert resolved.status_code == 201, resolved.text
    # one transaction on the change log (what replicas apply): the resolution, the staff
    # report, the resident's current row (its flag cleared)
    written = [
        e for e in log_entries(office.db, office.code)[logged:] if e.table_name[:6] == "safety"
    ]
    assert {"safety_check_resolutions", "safety_check_reports", "safety_check_current"} <= {
        e.table_name for e in written
    }
    assert len({e.tx_seq for e in written}) == 1
    resolution = resolved.json()
    assert resolution["id"] == body["id"] and resolution["resident_id"] == person["id"]
    assert (resolution["status"], resolution["resolved_by"]) == ("safe", "staff1")
    assert resolution["note"] == "自宅で本人と会った" and resolution["resolved_at"]
    # what staff found is the resident's latest report, recorded by them
    current = history(office, campaign["id"], person["id"])["current"]
    assert current["id"] == resolution["report_id"]
    assert (current["status"], current["reporter_kind"], current["recorded_by"]) == (
        "safe",
        "door_to_door",
        "staff1",
    )

    # off the open list; on the resolved list, with the resolution
    assert _listed(office, campaign["id"])["residents"] == []
    settled = _listed(office, campaign["id"], state="resolved")
    assert _ids(settled) == [person["id"]]
    assert settled["residents"][0]["resolution"]["id"] == resolution["id"]
    assert settled["state"] == "resolved"
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        entries = list(
            uow.session.execute(
                select(AuditEntry).where(AuditEntry.action == "safety.disagreement_resolve")
            ).scalars()
        )
    assert [(e.actor, e.subject_id) for e in entries] == [("staff1", person["id"])]
    assert entries[0].detail["status"] == "safe"

    # the same resolution again: its first answer; the same id for another: 409
    again = _resolve(office, campaign["id"], person["id"], body)
    assert again.status_code == 200 and again.json() == resolution
    changed = _resolve(office, campaign["id"], person["id"], {**body, "note": "別のメモ"})
    assert changed.status_code == 409
    assert changed.headers["content-type"] == "application/problem+json"
    # nothing left to resolve: 409, for them and for a resident who never disagreed
    for resident_id in (person["id"], calm["id"]):
        refused = _resolve(office, campaign["id"], resident_id, _resolution())
        assert refused.status_code == 409, refused.text
    assert _rows(office, DisagreementResolution) == 1

    # a later report that agrees with the resolved status (though not with the neighbour's
    # earlier one, within two hours of it) leaves the resident resolved
    agreeing = report_payload(person["id"], status="at_shelter", reporter_kind="supporter")
    assert report(office, campaign["id"], agreeing, office.shelter).status_code == 201
    assert _listed(office, campaign["id"])["residents"] == []

    # one that disagrees with it puts them back, showing the earlier resolution
    trouble = report_payload(person["id"], status="needs_help", reporter_kind="resident")
    assert report(office, campaign["id"], trouble, office.shelter).status_code == 201
    reopened = _listed(office, campaign["id"])
    assert _ids(reopened) == [person["id"]] and reopened["state"] == "open"
    assert reopened["residents"][0]["resolution"]["id"] == resolution["id"]
    assert _listed(office, campaign["id"], state="resolved")["residents"] == []

    # resolved again: off the list again
    second = _resolve(office, campaign["id"], person["id"], _resolution(status="needs_help"))
    assert second.status_code == 201, second.text
    assert _listed(office, campaign["id"])["residents"] == []
    latest = _listed(office, campaign["id"], state="resolved")["residents"][0]["resolution"]
    assert latest["id"] == second.json()["id"] and latest["status"] == "needs_help"


def _bad_resolutions_roles_and_a_blocked_resident(office: Office) -> None:
    """Refusals write nothing; a DV-blocked resident's disagreement and resolution show to
    staff (flagged) and to no one else."""
    blocked = office.register(
        family_name="秘匿", given_name="花", family_kana="ヒトク", given_kana="ハナ"
    )
    campaign = open_campaign(office)
    opened = backdate(office, campaign, hours=1)
    _disagree(office, campaign, blocked["id"], opened)
    office.block(blocked["id"])
    reports_before = _rows(office, Report)
    resolutions_before = _rows(office, DisagreementResolution)
    for bad in (
        _resolution(status="unknown"),
        _resolution(reporter_kind="family"),  # staff find out by phone or at the door
        _resolution(id="not-a-uuid"),
        _resolution(note="x" * 2001),
        _resolution(note="\x00"),
    ):
        refused = _resolve(office, campaign["id"], blocked["id"], bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert _resolve(office, campaign["id"], "x" * 36, _resolution()).status_code == 422
    nobody = _resolve(office, campaign["id"], str(uuid.uuid4()), _resolution())
    assert nobody.status_code == 404
    assert _resolve(office, str(uuid.uuid4()), blocked["id"], _resolution()).status_code == 404
    # only staff resolve: auditors read the lists, shelters see neither
    for headers in (office.auditor, office.shelter):
        refused = _resolve(office, campaign["id"], blocked["id"], _resolution(), headers)
        assert refused.status_code == 403
    bad_state = office.client.get(
        f"{office.api}/safety/campaigns/{campaign['id']}/disagreements",
        params={"state": "closed"},
        headers=office.staff,
    )
    assert bad_state.status_code == 422
    assert _rows(office, Report) == reports_before
    assert _rows(office, DisagreementResolution) == resolutions_before

    # staff see the blocked resident, flagged, open and then resolved
    listed = _listed(office, campaign["id"])["residents"]
    assert [(p["resident_id"], p["dv_block"]) for p in listed] == [(blocked["id"], True)]
    assert _resolve(office, campaign["id"], blocked["id"], _resolution()).status_code == 201
    resolved = _listed(office, campaign["id"], state="resolved")["residents"]
    assert [(p["resident_id"], p["dv_block"]) for p in resolved] == [(blocked["id"], True)]
    for state in ("open", "resolved"):
        path = f"{office.api}/safety/campaigns/{campaign['id']}/disagreements"
        params = {"state": state}
        assert office.client.get(path, params=params, headers=office.auditor).status_code == 200
        assert office.client.get(path, params=params, headers=office.shelter).status_code == 403
    # the resolving staff report does not make them findable by the citizens' search
    hidden = office.client.post(
        f"{office.api}/safety/search", json={"name": "秘匿花", "birth_date": "1980-05-06"}
    )
    assert hidden.status_code == 200 and hidden.json()["matches"] == []


def _a_purged_drill_takes_its_resolutions(office: Office) -> None:
    person = office.register(given_name="訓練", given_kana="クンレン")
    drill = open_campaign(office, kind="drill", title="訓練")
    _disagree(office, drill, person["id"], backdate(office, drill, hours=1))
    assert _resolve(office, drill["id"], person["id"], _resolution()).status_code == 201
    before = _rows(office, DisagreementResolution)
    purged = office.client.delete(
        f"{office.api}/safety/campaigns/{drill['id']}", headers=office.staff
    )
    assert purged.status_code == 204, purged.text
    assert _rows(office, DisagreementResolution) == before - 1


def _resent_while_the_first_is_in_flight(office: Office) -> None:
    """The same resolution sent again while the first is still being recorded (a double
    tap, a retry after a timeout): the resend answers the first's result (201, then 200
    with the same resolution), and one resolution is stored. Each waits (up to a second)
    after reading the campaign for the other to read it too; on PostgreSQL neither found
    the resolution, the second then waited for the first's audit entry and found nothing
    left to resolve (409)."""
    person = office.register(given_name="再送", given_kana="サイソウ")
    campaign = open_campaign(office)
    _disagree(office, campaign, person["id"], backdate(office, campaign, hours=1))
    body = _resolution()
    before = _rows(office, DisagreementResolution)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(campaigns, "get", meeting_after(campaigns.get))
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(
                pool.map(lambda _: _resolve(office, campaign["id"], person["id"], body), "ab")
            )
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert _rows(office, DisagreementResolution) == before + 1
