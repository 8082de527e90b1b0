"""One-tap links: a report through the resident's signed link is recorded for that
resident; forged, expired, other-tenant and over-long input is refused whole; a replayed
request is answered with the first result; the public endpoints are rate-limited."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from safety_check.links.service import LinkMaker
from safety_check.reports.models import Report
from tests.safety_check.conftest import Office, after_opening, audit_actions, history, open_campaign
from tests.support.factories import CHIYODA, tenant
from yui.auth.tokens import SigningKeys


def _maker(office: Office, ttl_seconds: int = 3600) -> LinkMaker:
    keys: SigningKeys = office.client.app.state.yui.token_keys  # type: ignore[attr-defined]
    return LinkMaker(keys, url="/api/v1/{tenant}/safety/links/{token}", ttl_seconds=ttl_seconds)


def _tap(campaign: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "id": str(uuid.uuid4()),
        "status": "safe",
        "reported_at": after_opening(campaign, 1),
        "note": "家族全員無事です",
    }
    body.update(overrides)
    return body


def _reports(office: Office) -> int:
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        return int(uow.session.execute(select(func.count()).select_from(Report)).scalar_one())


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert " / " in body["title"]  # 日本語 / English
    return body


def test_a_link_reports_for_its_resident_once_and_refuses_bad_input(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    resident, other = office.register(), office.register()
    campaign = open_campaign(office, title="宮城県沖地震")
    maker = _maker(office)
    link = maker.link(office.code, campaign["id"], resident["id"])
    client = office.client

    shown = client.get(link)  # no sign-in
    assert shown.status_code == 200, shown.text
    assert shown.json()["title"] == "宮城県沖地震" and shown.json()["open"] is True
    assert resident["id"] not in shown.text and "佐藤" not in shown.text

    tap = _tap(campaign, status="needs_help")
    first = client.post(f"{link}/reports", json=tap)
    assert first.status_code == 201, first.text
    seen = history(office, campaign["id"], resident["id"])["current"]
    assert seen["status"] == "needs_help" and seen["reporter_kind"] == "resident"
    assert seen["recorded_by"] == f"resident:{resident['id']}" and seen["source"] == "one_tap"
    assert seen["note"] == "家族全員無事です"

    # a replayed request (the phone's outbox, or a captured request): the first result
    again = client.post(f"{link}/reports", json=tap)
    assert again.status_code == 200 and again.json() == first.json()
    assert _reports(office) == 1
    # the same id with other content, or through another resident's link: 409
    _problem(client.post(f"{link}/reports", json={**tap, "status": "safe"}), 409)
    other_link = maker.link(office.code, campaign["id"], other["id"])
    _problem(client.post(f"{other_link}/reports", json=tap), 409)
    assert _reports(office) == 1
    reports_audited = audit_actions(office).count("safety.report")

    token = link.rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    tenant(office.db, CHIYODA, "千代田区")
    expired = _maker(office, ttl_seconds=-1).link(office.code, campaign["id"], resident["id"])
    stranger = LinkMaker(
        SigningKeys(b"another site's secret" * 2), url=link.replace(token, "{token}")
    )
    refused = {
        "forged": (f"/api/v1/{office.code}/safety/links/{forged}/reports", 403, tap),
        "other tenant": (f"/api/v1/{CHIYODA}/safety/links/{token}/reports", 403, tap),
        "other key": (
            stranger.link(office.code, campaign["id"], resident["id"]) + "/reports",
            403,
            tap,
        ),
        "expired": (f"{expired}/reports", 410, tap),
        "malformed": (f"/api/v1/{office.code}/safety/links/not-a-token/reports", 422, tap),
        "staff status": (f"{link}/reports", 422, _tap(campaign, status="believed_dead")),
        "unknown status": (f"{link}/reports", 422, _tap(campaign, status="fine")),
        "long note": (f"{link}/reports", 422, _tap(campaign, note="あ" * 2001)),
        "10 MB note": (f"{link}/reports", 413, _tap(campaign, note="x" * 10_000_000)),
        "no id": (f"{link}/reports", 422, {k: v for k, v in _tap(campaign).items() if k != "id"}),
        "future": (f"{link}/reports", 422, _tap(campaign, reported_at="2099-01-01T00:00:00+09:00")),
    }
    for what, (path, status, body) in refused.items():
        response = client.post(path, json=body)
        assert response.status_code == status, (what, response.text)
        _problem(response, status)
    assert _reports(office) == 1
    assert audit_actions(office).count("safety.report") == reports_audited

    _rate_limited(office, link, campaign, monkeypatch)


def _rate_limited(
    office: Office, link: str, campaign: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public endpoints count every request of a client address (like sign-in)."""
    monkeypatch.setenv("YUI_SAFETY_LINK_REQUESTS_PER_MINUTE", "3")
    office.client.app.state.safety_link_limiter = None  # type: ignore[attr-defined]
    for _ in range(3):
        assert office.client.get(link).status_code == 200
    before = _reports(office)
    limited = office.client.post(f"{link}/reports", json=_tap(campaign))
    _problem(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert _reports(office) == before
    # a forger is counted too: bad signatures get no more tries than anyone
    assert office.client.get(link[:-3] + "AAA").status_code == 429
