"""Fixtures of safety confirmation's tests: the registry's office (a tenant with signed-in
staff, residents registered through the registry's API) and campaign builders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.residents import conftest as registry
from tests.residents.conftest import Office, audit_actions

#: the registry's office: a tenant with signed-in staff, auditor and shelter
office = registry.office


def open_campaign(
    office: Office, kind: str = "live", title: str = "宮城県沖地震"
) -> dict[str, Any]:
    response = office.client.post(
        f"{office.api}/safety/campaigns",
        json={"title": title, "kind": kind},
        headers=office.staff,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def at(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat()


def after_opening(campaign: dict[str, Any], seconds: float) -> str:
    """A report time `seconds` after the campaign opened."""
    opened = datetime.fromisoformat(campaign["opened_at"])
    return (opened + timedelta(seconds=seconds)).isoformat()


def report_payload(resident_id: str, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "resident_id": resident_id,
        "status": "safe",
        "reported_at": at(0),
        "reporter_kind": "staff_call",
        "location": "自宅",
        "note": "電話で本人と話した",
    }
    payload.update(overrides)
    return payload


def report(
    office: Office,
    campaign_id: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Any:
    return office.client.post(
        f"{office.api}/safety/campaigns/{campaign_id}/reports",
        json=body,
        headers=headers or office.staff,
    )


def history(office: Office, campaign_id: str, resident_id: str) -> dict[str, Any]:
    response = office.client.get(
        f"{office.api}/safety/campaigns/{campaign_id}/residents/{resident_id}",
        headers=office.staff,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


__all__ = ["Office", "audit_actions", "history", "open_campaign", "report", "report_payload"]
