"""Sign-in, tokens and roles over HTTP: 401, 403, 404 and 429 as documented."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from fastapi.testclient import TestClient

from tests.conftest import TEST_SECRET
from tests.support.factories import CHIYODA, PASSWORD, SENDAI, sign_in, tenant, user
from yui.auth import tokens
from yui.db.database import Database

PROBLEM = "application/problem+json"


def test_sign_in_and_who_am_i(client: TestClient, db: Database) -> None:
    tenant(db)
    user(db, SENDAI, "sato", "staff", "shelter")
    headers = sign_in(client, SENDAI, "sato")
    me = client.get(f"/api/v1/{SENDAI}/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["username"] == "sato" and me.json()["roles"] == ["shelter", "staff"]


def test_wrong_password_and_unknown_user_get_the_same_401(client: TestClient, db: Database) -> None:
    tenant(db)
    user(db, SENDAI, "sato", "staff")
    for username, password in (("sato", "wrong password!!"), ("nobody", PASSWORD)):
        response = client.post(
            f"/api/v1/{SENDAI}/auth/token", json={"username": username, "password": password}
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"] == "Bearer"
        assert "wrong username or password" in response.json()["detail"]


def test_failed_logins_are_rate_limited(client: TestClient, db: Database) -> None:
    tenant(db)
    user(db, SENDAI, "sato", "staff")
    url = f"/api/v1/{SENDAI}/auth/token"
    for _ in range(5):
        assert (
            client.post(url, json={"username": "sato", "password": "guess-guess-guess"}).status_code
            == 401
        )
    blocked = client.post(url, json={"username": "sato", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert blocked.headers["content-type"] == PROBLEM


def test_failed_and_successful_logins_are_audited(client: TestClient, db: Database) -> None:
    tenant(db)
    user(db, SENDAI, "boss", "admin")
    client.post(
        f"/api/v1/{SENDAI}/auth/token", json={"username": "boss", "password": "nope-nope-nope"}
    )
    headers = sign_in(client, SENDAI, "boss")
    actions = [
        entry["action"] for entry in client.get(f"/api/v1/{SENDAI}/audit", headers=headers).json()
    ]
    assert actions == ["user.create", "auth.login_failed", "auth.login"]


def test_missing_forged_and_expired_tokens_get_401(client: TestClient, db: Database) -> None:
    tenant(db)
    user(db, SENDAI, "sato", "staff")
    url = f"/api/v1/{SENDAI}/auth/me"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer yui1.e30.AAAA"}).status_code == 401
    claims = tokens.TokenClaims("id", "sato", SENDAI, ("staff",), int(time.time()) - 1)
    expired = tokens.issue(claims, TEST_SECRET.encode())
    response = client.get(url, headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    forged = tokens.issue(
        claims.__class__("id", "sato", SENDAI, ("admin",), int(time.time()) + 60), b"k" * 40
    )
    assert client.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_a_token_of_another_tenant_gets_404(client: TestClient, db: Database) -> None:
    tenant(db, SENDAI)
    tenant(db, CHIYODA, "千代田区")
    user(db, CHIYODA, "tanaka", "admin")
    headers = sign_in(client, CHIYODA, "tanaka")
    for path in ("", "/auth/me", "/users", "/audit"):
        response = client.get(f"/api/v1/{SENDAI}{path}", headers=headers)
        assert response.status_code == 404, path


def test_wrong_role_gets_403_and_admin_can_add_staff(client: TestClient, db: Database) -> None:
    tenant(db)
    user(db, SENDAI, "sato", "staff")
    user(db, SENDAI, "boss", "admin")
    user(db, SENDAI, "kansa", "auditor")
    staff, admin, auditor = (sign_in(client, SENDAI, name) for name in ("sato", "boss", "kansa"))
    new = {"username": "suzuki", "password": "another long password", "roles": ["shelter"]}
    assert client.post(f"/api/v1/{SENDAI}/users", json=new, headers=staff).status_code == 403
    assert client.post(f"/api/v1/{SENDAI}/users", json=new, headers=auditor).status_code == 403
    created = client.post(f"/api/v1/{SENDAI}/users", json=new, headers=admin)
    assert created.status_code == 201 and created.json()["roles"] == ["shelter"]
    assert client.post(f"/api/v1/{SENDAI}/users", json=new, headers=admin).status_code == 409
    assert client.get(f"/api/v1/{SENDAI}/audit", headers=staff).status_code == 403
    assert client.get(f"/api/v1/{SENDAI}/audit", headers=auditor).status_code == 200
    weak = {**new, "username": "weak", "password": "short"}
    assert client.post(f"/api/v1/{SENDAI}/users", json=weak, headers=admin).status_code == 422


def _nested_token(key: bytes | None) -> str:
    body = base64.urlsafe_b64encode(b"[" * 1100 + b"]" * 1100).rstrip(b"=").decode()
    if key is None:
        return f"yui2.{tokens.key_id(TEST_SECRET.encode())}.{body}.AAAA"
    signing_input = f"yui2.{tokens.key_id(key)}.{body}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_a_token_of_deeply_nested_json_gets_401_not_500(client: TestClient, db: Database) -> None:
    tenant(db)
    url = f"/api/v1/{SENDAI}/auth/me"
    # Unsigned (checked before the payload is read) and signed with the site's own key (the
    # payload is read but is no claim set): both are refused as a client error.
    for token in (_nested_token(None), _nested_token(TEST_SECRET.encode())):
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == PROBLEM


def test_malformed_authorization_headers_never_get_500(client: TestClient, db: Database) -> None:
    tenant(db)
    url = f"/api/v1/{SENDAI}/auth/me"
    for value in (
        "Bearer " + "A" * 20000,
        "Bearer yui1.%%%.%%%",
        "Bearer yui1..",
        "Bearer yui1.e30.",
        "Bearer yui1." + "e30" * 3000 + ".AAAA",
        "Bearer \u00e9\u00e9",
        "Basic Zm9vOmJhcg==",
    ):
        response = client.get(url, headers={"Authorization": value.encode()})
        assert response.status_code == 401, (value[:40], response.text)


def test_usernames_are_one_account_after_nfkc_case_folding(
    client: TestClient, db: Database
) -> None:
    tenant(db)
    user(db, SENDAI, "boss", "admin")
    admin = sign_in(client, SENDAI, "boss")
    url = f"/api/v1/{SENDAI}/users"
    first = {"username": "pa-staff", "password": PASSWORD, "roles": ["staff"]}
    assert client.post(url, json=first, headers=admin).status_code == 201
    for confusable in ("PA-STAFF", "Pa-Staff"):
        response = client.post(url, json={**first, "username": confusable}, headers=admin)
        assert response.status_code == 409, response.text
    assert [u["username"] for u in client.get(url, headers=admin).json()] == ["boss", "pa-staff"]
    # Signing in compares the same way: any case, full-width letters too, is that account.
    for typed in ("PA-STAFF", "ｐａ－ｓｔａｆｆ"):
        response = client.post(
            f"/api/v1/{SENDAI}/auth/token", json={"username": typed, "password": PASSWORD}
        )
        assert response.status_code == 200, (typed, response.text)
        me = client.get(
            f"/api/v1/{SENDAI}/auth/me",
            headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        )
        assert me.json()["username"] == "pa-staff"
