"""Signing in and out, the municipality switcher, and what a staff page needs to be
shown: a live sign-in for the page's municipality."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Path, Request

from console.common.api import ApiAnswer, call_api
from console.common.session import TenantSignIn
from console.common.web import CONSOLE_PREFIX, Page, StaffPage

TENANT_CODE = re.compile(r"^[0-9]{6}$")


class SignInNeeded(Exception):
    """The page needs a sign-in it does not have (none, expired or revoked): the
    console's handler sends the browser to the sign-in page."""

    def __init__(self, page: Page, target: str) -> None:
        self.page = page
        self.target = target


def sign_in_url(tenant: str = "", next_page: str = "", *, expired: bool = False) -> str:
    query = []
    if tenant:
        query.append(f"tenant={tenant}")
    if next_page:
        query.append(f"next={quote(next_page, safe='/')}")
    if expired:
        query.append("expired=1")
    return f"{CONSOLE_PREFIX}/sign-in" + ("?" + "&".join(query) if query else "")


@dataclass
class StaffContext:
    """A staff page of one municipality: the page, the sign-in it acts with."""

    page: Page
    sign_in: TenantSignIn

    @property
    def tenant(self) -> str:
        return self.sign_in.tenant

    def has_role(self, *roles: str) -> bool:
        return any(role in self.sign_in.roles for role in roles)

    async def api(self, method: str, path: str, **options: Any) -> ApiAnswer:
        """Call the municipality's API as the signed-in person; a refused token (expired,
        signed out elsewhere, account disabled) ends this sign-in."""
        answer = await call_api(
            self.page.request, method, self.tenant, path, token=self.sign_in.token, **options
        )
        if answer.status == 401:
            self.page.session.drop(self.tenant, expired=True)
            raise SignInNeeded(
                self.page, sign_in_url(self.tenant, self.page.request.url.path, expired=True)
            )
        return answer


def staff_context(
    request: Request,
    page: StaffPage,
    tenant: Annotated[str, Path(pattern=r"^[0-9]{6}$")],
) -> StaffContext:
    session = page.session
    held = session.sign_ins.get(tenant)
    if held is None or held.expired(time.time()):
        expired = held is not None or session.expired_notice
        session.drop(tenant, expired=expired)
        raise SignInNeeded(page, sign_in_url(tenant, request.url.path, expired=expired))
    if session.active != tenant:
        session.active = tenant
        session.changed = True
    return StaffContext(page, held)


Staff = Annotated[StaffContext, Depends(staff_context)]
