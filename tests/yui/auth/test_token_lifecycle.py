"""Token lifecycle: disabling, password changes, role changes and sign-out end an account's
tokens; the signing key rotates with two keys valid; a token lives no longer than the
reading site's own lifetime. API and CLI, each change audited."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from assembly.cli.main import app as cli
from assembly.site import create_app
from tests.conftest import TEST_SECRET
from tests.support.factories import PASSWORD, SENDAI, sign_in, tenant, user
from yui.auth import tokens
from yui.db.database import Database
from yui.settings import Settings

NEW_PASSWORD = "a brand new long password"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Read the account on every request: these tests look at the effect, not the cache.
    return settings.model_copy(update={"token_account_check_seconds": 0})


def _me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get(f"/api/v1/{SENDAI}/auth/me", headers=headers).status_code


def _user_id(client: TestClient, admin: dict[str, str], username: str) -> str:
    users = client.get(f"/api/v1/{SENDAI}/users", headers=admin).json()
    return next(u["id"] for u in users if u["username"] == username)


def _actions(client: TestClient, admin: dict[str, str]) -> list[str]:
    entries = client.get(f"/api/v1/{SENDAI}/audit", headers=admin).json()
    return [entry["action"] for entry in entries]


@pytest.fixture
def staffed(client: TestClient, db: Database) -> tuple[dict[str, str], dict[str, str]]:
    tenant(db)
    user(db, SENDAI, "boss", "admin")
    user(db, SENDAI, "sato", "staff")
    return sign_in(client, SENDAI, "boss"), sign_in(client, SENDAI, "sato")


def test_disabling_an_account_ends_its_tokens_and_its_sign_in(
    client: TestClient, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    admin, sato = staffed
    sato_id = _user_id(client, admin, "sato")
    url = f"/api/v1/{SENDAI}/users/{sato_id}"
    changed = client.patch(url, json={"disabled": True}, headers=admin)
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert _me(client, sato) == 401
    assert "revoked" in client.get(f"/api/v1/{SENDAI}/auth/me", headers=sato).json()["detail"]
    login = {"username": "sato", "password": PASSWORD}
    assert client.post(f"/api/v1/{SENDAI}/auth/token", json=login).status_code == 401
    assert _me(client, admin) == 200  # other accounts are untouched
    assert client.patch(url, json={"disabled": False}, headers=admin).status_code == 200
    assert _me(client, sato) == 401  # enabling does not bring old tokens back
    assert _me(client, sign_in(client, SENDAI, "sato")) == 200
    assert {"user.disable", "user.enable"} <= set(_actions(client, admin))


def test_changing_a_role_ends_the_tokens_and_a_new_one_has_the_new_role(
    client: TestClient, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    admin, sato = staffed
    url = f"/api/v1/{SENDAI}/users/{_user_id(client, admin, 'sato')}"
    assert client.patch(url, json={"roles": ["auditor"]}, headers=admin).status_code == 200
    assert _me(client, sato) == 401
    fresh = sign_in(client, SENDAI, "sato")
    assert client.get(f"/api/v1/{SENDAI}/auth/me", headers=fresh).json()["roles"] == ["auditor"]
    assert "user.roles" in _actions(client, admin)
    # Only an admin changes accounts.
    assert client.patch(url, json={"roles": ["admin"]}, headers=fresh).status_code == 403


def test_changing_or_resetting_a_password_ends_the_tokens(
    client: TestClient, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    admin, sato = staffed
    wrong = {"current_password": "not the password", "new_password": NEW_PASSWORD}
    assert (
        client.post(f"/api/v1/{SENDAI}/auth/password", json=wrong, headers=sato).status_code == 401
    )
    assert _me(client, sato) == 200
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = client.post(f"/api/v1/{SENDAI}/auth/password", json=body, headers=sato)
    assert changed.status_code == 204, changed.text
    assert _me(client, sato) == 401
    token_url = f"/api/v1/{SENDAI}/auth/token"
    assert (
        client.post(token_url, json={"username": "sato", "password": PASSWORD}).status_code == 401
    )
    again = client.post(token_url, json={"username": "sato", "password": NEW_PASSWORD})
    assert again.status_code == 200
    sato = {"Authorization": f"Bearer {again.json()['access_token']}"}
    reset = client.post(
        f"/api/v1/{SENDAI}/users/{_user_id(client, admin, 'sato')}/password",
        json={"new_password": "reset by the admin, long"},
        headers=admin,
    )
    assert reset.status_code == 204
    assert _me(client, sato) == 401
    assert {"user.password_change", "user.password_reset"} <= set(_actions(client, admin))


def test_signing_out_ends_the_accounts_tokens(
    client: TestClient, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    admin, sato = staffed
    second_device = sign_in(client, SENDAI, "sato")
    assert client.post(f"/api/v1/{SENDAI}/auth/sign-out", headers=sato).status_code == 204
    assert _me(client, sato) == 401 and _me(client, second_device) == 401
    assert _me(client, admin) == 200
    assert "auth.sign_out" in _actions(client, admin)


def test_a_revoked_token_stops_within_the_cache_time(
    settings: Settings, db: Database, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    cached = settings.model_copy(update={"token_account_check_seconds": 0.5})
    with TestClient(create_app(cached, db, migrate=False)) as client:
        admin = sign_in(client, SENDAI, "boss")
        sato = sign_in(client, SENDAI, "sato")
        assert _me(client, sato) == 200  # now cached
        sato_id = _user_id(client, admin, "sato")
        client.patch(f"/api/v1/{SENDAI}/users/{sato_id}", json={"disabled": True}, headers=admin)
        time.sleep(0.6)
        assert _me(client, sato) == 401


def _claims(**overrides: object) -> tokens.TokenClaims:
    now = int(time.time())
    values: dict[str, object] = {
        "user_id": "x",
        "username": "boss",
        "tenant": SENDAI,
        "roles": ("admin",),
        "expires_at": now + 600,
        "generation": 0,
        "issued_at": now,
    }
    values.update(overrides)
    return tokens.TokenClaims(**values)  # type: ignore[arg-type]


def test_signing_key_rotation_accepts_the_previous_key_during_the_change(
    settings: Settings, db: Database, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    new_key = "the-new-signing-key-" + "n" * 32
    with TestClient(create_app(settings, db, migrate=False)) as old_site:
        old_token = sign_in(old_site, SENDAI, "sato")
    rotated = settings.model_copy(
        update={
            "token_secret": SecretStr(new_key),
            "token_secret_previous": SecretStr(TEST_SECRET),
        }
    )
    with TestClient(create_app(rotated, db, migrate=False)) as site:
        assert _me(site, old_token) == 200  # the previous key's tokens still work
        new_token = sign_in(site, SENDAI, "sato")
        kid = new_token["Authorization"].split(".")[1]
        assert kid == tokens.key_id(new_key.encode()) != tokens.key_id(TEST_SECRET.encode())
    done = settings.model_copy(update={"token_secret": SecretStr(new_key)})
    with TestClient(create_app(done, db, migrate=False)) as site:
        assert _me(site, new_token) == 200
        refused = site.get(f"/api/v1/{SENDAI}/auth/me", headers=old_token)
        assert refused.status_code == 401 and "unknown signing key" in refused.json()["detail"]


def test_a_token_lives_no_longer_than_this_sites_lifetime(
    client: TestClient, settings: Settings, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    """A token whose exp lies far ahead (a site with a longer lifetime, or a clock ahead,
    issued it) is refused once it is older than this site's YUI_TOKEN_TTL_SECONDS; one
    issued in the future is refused too."""
    admin = staffed[0]
    boss_id = _user_id(client, admin, "boss")
    key = TEST_SECRET.encode()
    now = int(time.time())
    ttl = settings.token_ttl_seconds
    old = _claims(user_id=boss_id, issued_at=now - ttl - 120, expires_at=now + 3600)
    future = _claims(user_id=boss_id, issued_at=now + 600, expires_at=now + 1500)
    fine = _claims(user_id=boss_id, issued_at=now - 10, expires_at=now + ttl - 10)
    for claims, status in ((old, 401), (future, 401), (fine, 200)):
        headers = {"Authorization": f"Bearer {tokens.issue(claims, key)}"}
        assert _me(client, headers) == status, claims


def test_cli_disables_resets_changes_roles_and_signs_out(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client: TestClient,
    staffed: tuple[dict[str, str], dict[str, str]],
) -> None:
    monkeypatch.setenv("YUI_DATABASE_URL", database_url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    admin = staffed[0]

    def run(*args: str, stdin: str | None = None) -> int:
        result = runner.invoke(cli, ["user", *args, "--tenant", SENDAI], input=stdin)
        return result.exit_code

    def signed_in(password: str) -> dict[str, str]:
        login = {"username": "sato", "password": password}
        token = client.post(f"/api/v1/{SENDAI}/auth/token", json=login).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    for command, stdin, password in (
        (["sign-out", "--username", "SATO"], None, PASSWORD),
        (["set-roles", "--username", "sato", "--role", "shelter"], None, PASSWORD),
        (
            ["reset-password", "--username", "sato", "--password-stdin"],
            NEW_PASSWORD + "\n",
            PASSWORD,
        ),
        (["disable", "--username", "sato"], None, NEW_PASSWORD),
    ):
        sato = signed_in(password)
        assert _me(client, sato) == 200, command
        assert run(*command, stdin=stdin) == 0, command
        assert _me(client, sato) == 401, command
    assert run("disable", "--username", "nobody") != 0
    assert run("reset-password", "--username", "boss", "--password-stdin", stdin="short\n") == 2
    actions = _actions(client, admin)
    for action in ("auth.sign_out", "user.roles", "user.password_reset", "user.disable"):
        assert action in actions, action


def test_guessing_the_current_password_counts_as_failed_sign_ins(
    client: TestClient, settings: Settings, staffed: tuple[dict[str, str], dict[str, str]]
) -> None:
    """Changing one's password proves the current one: with a stolen token it was a way
    to guess the password with no limit and no trace. The guesses now count against the
    account as failed sign-ins do (and the other way round), and each is audited."""
    admin, sato = staffed
    url = f"/api/v1/{SENDAI}/auth/password"
    wrong = {"current_password": "a wrong guess, long enough", "new_password": NEW_PASSWORD}
    for _ in range(settings.login_max_failures):
        assert client.post(url, json=wrong, headers=sato).status_code == 401
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    blocked = client.post(url, json=right, headers=sato)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    login = {"username": "sato", "password": PASSWORD}
    assert client.post(f"/api/v1/{SENDAI}/auth/token", json=login).status_code == 429
    assert _me(client, sato) == 200  # the password is unchanged, the token still works
    failures = _actions(client, admin).count("auth.password_change_failed")
    assert failures == settings.login_max_failures
