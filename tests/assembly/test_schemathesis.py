"""Property-based tests of the whole site node from its own /openapi.json.

Every operation gets generated requests (50 in `make test`, which must stay under 20
minutes; `make fuzz` sends 500), signed in as an admin of a real tenant; any 5xx, or a
response that breaks the documented schema, status code or content type, fails. New
endpoints are covered as soon as they are mounted.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from assembly.schema import SCHEMA_HISTORY
from assembly.site import create_app
from tests.conftest import TEST_SECRET
from tests.support.factories import SENDAI, sign_in, tenant, user
from yui.db.database import Database
from yui.settings import load_settings

EXAMPLES = int(os.environ.get("YUI_SCHEMATHESIS_EXAMPLES", "50"))
#: a new seed each run (printed; a failure names it): YUI_SCHEMATHESIS_SEED=N runs it again
SEED = int(os.environ.get("YUI_SCHEMATHESIS_SEED") or random.SystemRandom().randrange(2**32))
#: the role the requests are signed in as (`make fuzz` runs once per role)
ROLE = os.environ.get("YUI_SCHEMATHESIS_ROLE", "admin")
REPRODUCE = f"YUI_SCHEMATHESIS_SEED={SEED} YUI_SCHEMATHESIS_ROLE={ROLE}"


#: operations whose 503 is this fuzz site's configuration, not a fault: a site without
#: replication keys trusts no other site, so it cannot take another municipality's supplies
#: message (every real site has them; tests/supplies/exchange covers the signed path)
UNCONFIGURED_HERE = {("POST", "/api/v1/{tenant}/supplies/exchange/inbound")}


def _build() -> tuple[object, dict[str, str]]:
    from fastapi.testclient import TestClient

    # an e-mail channel, as a real site has (subscriptions answer 503 without one); nothing
    # is sent inline: a confirmation is a job, and no worker runs here
    os.environ.setdefault("YUI_SAFETY_SMTP_HOST", "127.0.0.1")

    root = Path(os.environ.get("YUI_SCHEMATHESIS_DIR", "/tmp")) / f"yui-schemathesis-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{root / 'yui.db'}"
    (root / "yui.db").unlink(missing_ok=True)
    db = Database(url)
    db.migrate(SCHEMA_HISTORY)
    tenant(db)
    user(db, SENDAI, "boss", "admin")
    if ROLE != "admin":
        user(db, SENDAI, "fuzzer", ROLE)
    user(db, SENDAI, "leaver", "staff")  # signs out (which ends its tokens), not the admin
    # generous limits: the generator must not be stopped by the login limiter
    config = load_settings(
        site="fuzz",
        data_dir=root,
        database_url=url,
        token_secret=TEST_SECRET,
        login_max_failures=100,
        login_window_seconds=10,
        log_json=False,
    )
    application = create_app(config, db, migrate=False)
    headers = sign_in(TestClient(application), SENDAI, "boss" if ROLE == "admin" else "fuzzer")
    return application, headers


def _leaver() -> dict[str, str]:
    from fastapi.testclient import TestClient

    return sign_in(TestClient(APP), SENDAI, "leaver")


APP, HEADERS = _build()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.fixture(scope="module", autouse=True)
def _say_the_seed(request: pytest.FixtureRequest) -> None:
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nschemathesis: {REPRODUCE} (set these to run this draw again)")


@schema.parametrize()
@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation(case: schemathesis.Case) -> None:
    if "tenant" in (case.path_parameters or {}):
        case.path_parameters["tenant"] = SENDAI  # reach past the tenant check into each handler
    # Signing out ends every token of the account: the admin's would end for the rest.
    headers = _leaver() if case.path.endswith("/auth/sign-out") else HEADERS
    chosen = CHECKS
    if (case.method.upper(), case.path) in UNCONFIGURED_HERE:
        chosen = [check for check in CHECKS if check is not checks.not_a_server_error]
    try:
        case.call_and_validate(headers=headers, checks=chosen)
    except Exception as error:
        error.add_note(f"reproduce with {REPRODUCE}")
        raise


@pytest.mark.parametrize("path", ["/api/v1/041008/auth/me", "/api/v1/999999/auth/me"])
def test_bad_tenant_paths_are_documented_errors(path: str) -> None:
    from fastapi.testclient import TestClient

    response = TestClient(APP).get(path, headers=HEADERS)
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/problem+json"
