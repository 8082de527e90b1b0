"""The console's session: a sign-in whose token has expired sends the page to the
sign-in page with the reason; a session cookie changed by the client is not read."""

from __future__ import annotations

import time

import httpx

from console.common.session import SESSION_COOKIE, Session, SessionCodec, TenantSignIn
from tests.console.support.browser import PASSWORD, STAFF, ConsoleNode


def cookie_of(node: ConsoleNode, expires_at: int) -> str:
    """A session holding a real, valid token of sato's, said to expire at ``expires_at``
    (so only the console's own expiry can turn the page away)."""
    token = httpx.post(
        f"{node.url}/api/v1/{node.tenant}/auth/token",
        json={"username": STAFF, "password": PASSWORD},
    ).json()["access_token"]
    session = Session()
    session.add(
        TenantSignIn(
            tenant=node.tenant,
            token=token,
            username=STAFF,
            roles=("staff",),
            expires_at=expires_at,
            name="仙台市",
        )
    )
    return SessionCodec(node.signing_key).dumps(session)


def test_an_expired_sign_in_goes_to_the_sign_in_page_and_says_why(node: ConsoleNode) -> None:
    expired = cookie_of(node, int(time.time()) - 1)
    with httpx.Client(base_url=node.url) as client:
        answer = client.get(
            f"/console/t/{node.tenant}/residents", headers={"cookie": f"{SESSION_COOKIE}={expired}"}
        )
        assert answer.status_code == 303
        target = answer.headers["location"]
        assert target.startswith(f"/console/sign-in?tenant={node.tenant}&next=")
        assert target.endswith("expired=1")
        page = client.get(target)
        assert "ログインの有効期限が切れました" in page.text


def test_a_session_cookie_changed_by_the_client_is_not_read(node: ConsoleNode) -> None:
    valid = cookie_of(node, int(time.time()) + 600)
    with httpx.Client(base_url=node.url) as client:
        page = f"/console/t/{node.tenant}/residents"
        assert client.get(page, headers={"cookie": f"{SESSION_COOKIE}={valid}"}).status_code == 200
    body, _, signature = valid.partition(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    with httpx.Client(base_url=node.url) as client:
        answer = client.get(
            f"/console/t/{node.tenant}/residents", headers={"cookie": f"{SESSION_COOKIE}={forged}"}
        )
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/sign-in")
        assert "expired" not in answer.headers["location"]
