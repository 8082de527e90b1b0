"""Who may call each route of safety confirmation: every route the site serves is declared
here, public or with the roles it admits (docs/safety-check.md, "役割 / Roles"), and each
role is checked against it (`admits_exactly_its_roles`, run by the campaigns' test, which
has every role signed in already). A route added without a declaration fails it."""

from __future__ import annotations

import re
from typing import Any

from safety_check.links import signing
from tests.safety_check.conftest import Office

STAFF, AUDITOR, SHELTER, ADMIN, DEPOT = "staff", "auditor", "shelter", "admin", "depot"
ROLES = (STAFF, AUDITOR, SHELTER, ADMIN, DEPOT)
#: no sign-in: a signed link, a public form or search, or nothing personal
PUBLIC = frozenset({"anyone"})
READERS = frozenset({STAFF, AUDITOR})
CAMPAIGN = "/api/v1/{tenant}/safety/campaigns/{campaign_id}"

ALLOWED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/v1/{tenant}/safety/campaigns"): frozenset({STAFF, AUDITOR, SHELTER}),
    ("POST", "/api/v1/{tenant}/safety/campaigns"): frozenset({STAFF}),
    ("GET", CAMPAIGN): frozenset({STAFF, AUDITOR, SHELTER}),
    ("DELETE", CAMPAIGN): frozenset({STAFF}),
    ("POST", f"{CAMPAIGN}/close"): frozenset({STAFF}),
    ("POST", f"{CAMPAIGN}/send-now"): frozenset({STAFF}),
    ("POST", f"{CAMPAIGN}/cancel"): frozenset({STAFF}),
    ("GET", "/api/v1/{tenant}/safety/alert-rules"): frozenset({ADMIN, STAFF, AUDITOR}),
    ("PUT", "/api/v1/{tenant}/safety/alert-rules"): frozenset({ADMIN}),
    ("POST", f"{CAMPAIGN}/reports"): frozenset({STAFF, SHELTER}),
    ("GET", f"{CAMPAIGN}/residents/{{resident_id}}"): READERS,
    ("GET", f"{CAMPAIGN}/districts"): READERS,
    ("GET", f"{CAMPAIGN}/timeline"): READERS,
    ("GET", f"{CAMPAIGN}/response-rate"): READERS,
    ("GET", f"{CAMPAIGN}/unconfirmed"): READERS,
    ("GET", f"{CAMPAIGN}/visits"): READERS,
    ("GET", f"{CAMPAIGN}/visits.csv"): READERS,
    ("GET", f"{CAMPAIGN}/visits.html"): READERS,
    ("GET", f"{CAMPAIGN}/disagreements"): READERS,
    ("POST", f"{CAMPAIGN}/disagreements/{{resident_id}}/resolve"): frozenset({STAFF}),
    ("GET", "/api/v1/{tenant}/safety/open-campaigns"): PUBLIC,
    ("POST", f"{CAMPAIGN}/form"): PUBLIC,
    ("GET", f"{CAMPAIGN}/submissions"): READERS,
    ("POST", f"{CAMPAIGN}/submissions/{{submission_id}}/confirm"): frozenset({STAFF}),
    ("POST", f"{CAMPAIGN}/submissions/{{submission_id}}/reject"): frozenset({STAFF}),
    ("GET", f"{CAMPAIGN}/supporters"): READERS,
    ("GET", "/api/v1/{tenant}/safety/supporter-links/{token}"): PUBLIC,
    ("POST", "/api/v1/{tenant}/safety/supporter-links/{token}/reports"): PUBLIC,
    ("GET", "/api/v1/{tenant}/safety/links/{token}/household"): PUBLIC,
    ("POST", "/api/v1/{tenant}/safety/links/{token}/household/reports"): PUBLIC,
    ("GET", "/api/v1/{tenant}/safety/links/{token}"): PUBLIC,
    ("POST", "/api/v1/{tenant}/safety/links/{token}/reports"): PUBLIC,
    ("POST", "/api/v1/{tenant}/safety/search"): PUBLIC,
    ("GET", "/api/v1/{tenant}/safety/pfif/export"): frozenset({STAFF, ADMIN}),
    ("POST", "/api/v1/{tenant}/safety/pfif/import"): frozenset({STAFF, ADMIN}),
    ("POST", "/api/v1/{tenant}/safety/subscriptions"): PUBLIC,
    ("GET", "/api/v1/{tenant}/safety/subscriptions/{token}"): PUBLIC,
    ("DELETE", "/api/v1/{tenant}/safety/subscriptions/{token}"): PUBLIC,
    ("POST", "/api/v1/{tenant}/safety/subscriptions/{token}/confirm"): PUBLIC,
    ("GET", f"{CAMPAIGN}/subscriptions"): READERS,
    ("GET", f"{CAMPAIGN}/outreach"): READERS,
    ("POST", f"{CAMPAIGN}/outreach"): frozenset({STAFF}),
    ("POST", "/safety/v1/search"): PUBLIC,
}

SOME_ID = "01234567-89ab-4cde-8f01-23456789abcd"


def _served(office: Office) -> set[tuple[str, str]]:
    """Every (method, path) of safety confirmation in the site's API."""
    paths: dict[str, Any] = office.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if "/safety/" in path
        for method in operations
    }


def _concrete(office: Office, template: str) -> str:
    """The path with its parameters filled: well-formed ids of nothing, a token of the
    right shape that no key signed."""
    values = {"tenant": office.code, "token": "A" * signing.TOKEN_CHARS}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), SOME_ID), template)


def admits_exactly_its_roles(office: Office, depot: dict[str, str]) -> None:
    """Anonymous callers get 401 from every route that is not public, the roles a route
    does not admit 403, and the roles it admits get past the check; public routes ask no
    sign-in."""
    assert _served(office) == set(ALLOWED), "declare each safety route's roles here"
    signed_in = {
        STAFF: office.staff,
        AUDITOR: office.auditor,
        SHELTER: office.shelter,
        ADMIN: office.admin,
        DEPOT: depot,
    }
    wrong: list[tuple[str, str, str, int]] = []
    for (method, template), allowed in sorted(ALLOWED.items()):
        path = _concrete(office, template)
        anonymous = office.client.request(method, path).status_code
        if allowed == PUBLIC:
            if anonymous == 401:  # no sign-in asked of the public
                wrong.append((method, template, "anonymous", anonymous))
            continue
        if anonymous != 401:
            wrong.append((method, template, "anonymous", anonymous))
        for role in ROLES:
            status = office.client.request(method, path, headers=signed_in[role]).status_code
            # an admitted role gets past the check (then 200, 404 or 422: nothing real here)
            if (role in allowed) == (status in (401, 403)):
                wrong.append((method, template, role, status))
    assert wrong == []
