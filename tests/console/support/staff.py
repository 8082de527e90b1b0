"""A signed-in staff session without a browser, for the console's page logic tests:
a real token in a signed session cookie, and the page's CSRF token for its forms."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from console.common.session import SESSION_COOKIE, Session, SessionCodec, TenantSignIn
from tests.console.support.browser import PASSWORD, ConsoleNode


def api(node: ConsoleNode, token: str, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(
        method,
        f"{node.url}/api/v1/{node.tenant}{path}",
        json=body,
        headers={"authorization": f"Bearer {token}"},
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def token_of(node: ConsoleNode, username: str) -> str:
    answer = httpx.post(
        f"{node.url}/api/v1/{node.tenant}/auth/token",
        json={"username": username, "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


class Desk:
    """A signed-in console session without a browser: a real token in a signed session
    cookie, and the page's CSRF token for its forms."""

    def __init__(
        self,
        node: ConsoleNode,
        username: str,
        roles: tuple[str, ...],
        section: str = "supplies",
    ) -> None:
        session = Session()
        session.add(
            TenantSignIn(
                tenant=node.tenant,
                token=token_of(node, username),
                username=username,
                roles=roles,
                expires_at=int(time.time()) + 600,
                name="仙台市",
            )
        )
        self.base = f"/console/t/{node.tenant}/{section}"
        self.client = httpx.Client(
            base_url=node.url,
            cookies={SESSION_COOKIE: SessionCodec(node.signing_key).dumps(session)},
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(self.base + path, params=params)

    def post(self, path: str, form: dict[str, Any], *, from_page: str) -> httpx.Response:
        page = self.get(from_page)
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
        assert found, page.text[:500]
        return self.client.post(self.base + path, data={"csrf_token": found.group(1), **form})
