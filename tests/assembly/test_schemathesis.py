"""Property-based tests of the whole site node from its own /openapi.json.

Every operation gets generated requests (50 in `make test`, which must stay under 20
minutes; `make fuzz` sends 500 as each role), signed in as an admin of a real tenant (or
`YUI_SCHEMATHESIS_ROLE`); any 5xx, a refused request (4xx/5xx) that wrote a tenant's row,
or a response that breaks the documented schema, status code or content type, fails. New
endpoints are covered as soon as they are mounted.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
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

#: tables a refused request may write: the audit trail records refusals on purpose (a failed
#: sign-in, a denied role)
WRITTEN_WHEN_REFUSED = {"audit_log", "audit_heads"}


def _build() -> tuple[object, dict[str, str], Path]:
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
    return application, headers, root / "yui.db"


def _change_log(database: Path) -> sqlite3.Connection:
    """A connection of our own to the site's database, in autocommit (a read holds no lock
    between requests); one for the run: a connection per request cost ~1.3 ms under load."""
    return sqlite3.connect(database, timeout=60, isolation_level=None)


def _last_change(log: sqlite3.Connection) -> int:
    """The change log's last row: every write of a tenant's row appends to it."""
    # fetchall: the statement runs to its end, so it keeps no read lock on the database
    [(last,)] = log.execute("SELECT coalesce(max(rowid), 0) FROM change_log").fetchall()
    return int(last)


def _written_since(log: sqlite3.Connection, last: int) -> list[tuple[str, str]]:
    """(table, op) of each tenant row written since ``last``, audit rows aside."""
    rows = log.execute(
        "SELECT table_name, op FROM change_log WHERE rowid > ? ORDER BY rowid", (last,)
    ).fetchall()
    return [(table, op) for table, op in rows if table not in WRITTEN_WHEN_REFUSED]


def _leaver() -> dict[str, str]:
    from fastapi.testclient import TestClient

    return sign_in(TestClient(APP), SENDAI, "leaver")


APP, HEADERS, DATABASE = _build()
CHANGE_LOG = _change_log(DATABASE)
#: the in-process call's limit (schemathesis: 10 s): a loaded machine's niced `make fuzz`
#: took over 10 s to answer a 403, which hypothesis then reported as a flaky failure
CALL_TIMEOUT_SECONDS = 120
#: a token lives 900 s and `make fuzz` runs for hours: sign in again well before it expires
#: (an expired token would turn every later request into a 401, testing nothing)
SIGN_IN_AGAIN_SECONDS = 300.0
_signed_in_at = time.monotonic()


def _headers() -> dict[str, str]:
    global HEADERS, _signed_in_at
    if time.monotonic() - _signed_in_at > SIGN_IN_AGAIN_SECONDS:
        from fastapi.testclient import TestClient

        HEADERS = sign_in(TestClient(APP), SENDAI, "boss" if ROLE == "admin" else "fuzzer")
        _signed_in_at = time.monotonic()
    return HEADERS


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
    headers = _leaver() if case.path.endswith("/auth/sign-out") else _headers()
    chosen = CHECKS
    if (case.method.upper(), case.path) in UNCONFIGURED_HERE:
        chosen = [check for check in CHECKS if check is not checks.not_a_server_error]
    try:
        before = _last_change(CHANGE_LOG)
        response = case.call(headers=headers, timeout=CALL_TIMEOUT_SECONDS)
        if response.status_code >= 400:
            written = _written_since(CHANGE_LOG, before)
            assert not written, (
                f"{case.method.upper()} {case.formatted_path} answered {response.status_code} "
                f"but wrote {written}: {response.text[:500]}"
            )
        case.validate_response(response, checks=chosen)
    except Exception as error:
        error.add_note(f"reproduce with {REPRODUCE}")
        raise


@pytest.mark.parametrize("path", ["/api/v1/041008/auth/me", "/api/v1/999999/auth/me"])
def test_bad_tenant_paths_are_documented_errors(path: str) -> None:
    from fastapi.testclient import TestClient

    response = TestClient(APP).get(path, headers=HEADERS)
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/problem+json"


def test_the_refusal_check_sees_a_write() -> None:
    """The check every fuzzed refusal passes reads the change log: a write shows there."""
    from fastapi.testclient import TestClient

    client = TestClient(APP)
    before = _last_change(CHANGE_LOG)
    created = client.post(
        f"/api/v1/{SENDAI}/users",
        json={
            "username": f"probe-{SEED}",
            "password": "a long enough password",
            "roles": ["staff"],
        },
        headers=sign_in(client, SENDAI, "boss"),
    )
    assert created.status_code == 201, created.text
    assert ("staff_users", "insert") in _written_since(CHANGE_LOG, before)
