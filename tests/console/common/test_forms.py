"""CSRF on every form, found rather than listed: every form a template posts carries the
session's token, and every unsafe route of the console refuses a request without it, or
from another site with it (403), before it reads or writes anything. A new route or
form is checked the day it is added. (The platform's forms answer with a page of their
own: tests/console/staff/test_platform_pages.py; on this lone node they have no cluster
to change and send the browser to the overview.)"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
from fastapi.routing import APIRoute

from console.app import HERE
from console.common.session import SESSION_COOKIE, Session, SessionCodec, TenantSignIn
from tests.console.support.browser import ConsoleNode
from tests.console.support.staff import token_of

FORMS = re.compile(r"<form\b[^>]*\bmethod=\"post\"[^>]*>(.*?)</form>", re.S | re.I)
TOKEN_FIELD = '<input type="hidden" name="{{ csrf_field }}" value="{{ csrf_token }}">'
#: the operators' forms check the token themselves, after the operator (a page, not JSON)
PLATFORM = "/console/platform/"


def unsafe_routes(node: ConsoleNode) -> list[str]:
    """Every path of the console that takes a POST (PUT, PATCH, DELETE), as mounted."""
    found = []
    for included in node.extra["app"].router.routes:
        contexts = getattr(included, "effective_route_contexts", None)
        for context in contexts() if contexts is not None else ():
            route = context.original_route
            if (
                isinstance(route, APIRoute)
                and context.path_format.startswith("/console")
                and set(route.methods) - {"GET", "HEAD"}
            ):
                found.append(context.path_format)
    return sorted(set(found))


def test_every_form_a_template_posts_carries_the_csrf_token() -> None:
    forms = [
        (template.name, form)
        for template in Path(HERE).glob("*/templates/*.html")
        for form in FORMS.findall(template.read_text(encoding="utf-8"))
    ]
    assert len(forms) > 30, "the pattern no longer finds the templates' forms"
    missing = [name for name, form in forms if TOKEN_FIELD not in form]
    assert missing == []


def test_every_unsafe_route_refuses_a_request_without_its_token_or_from_another_site(
    node: ConsoleNode,
) -> None:
    routes = [path for path in unsafe_routes(node) if not path.startswith(PLATFORM)]
    assert len(routes) >= 25 and "/console/sign-in" in routes, routes
    session = Session()
    session.add(
        TenantSignIn(
            tenant=node.tenant,
            token=token_of(node, "sato"),
            username="sato",
            roles=("staff",),
            expires_at=int(time.time()) + 600,
            name="仙台市",
        )
    )
    cookie = SessionCodec(node.signing_key).dumps(session)
    token = node.extra["app"].state.console.csrf.token(session.sid)
    with httpx.Client(base_url=node.url, cookies={SESSION_COOKIE: cookie}) as client:
        for template in routes:
            path = re.sub(r"\{tenant\}", node.tenant, template)
            path = re.sub(r"\{decision\}", "accept", path)
            path = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)
            without = client.post(path, data={"tenant": node.tenant})
            assert without.status_code == 403, (path, without.status_code, without.text[:200])
            foreign = client.post(
                path, data={"csrf_token": token}, headers={"sec-fetch-site": "cross-site"}
            )
            assert foreign.status_code == 403, (path, foreign.status_code, foreign.text[:200])
        # the token itself is this session's: with it, the same request gets past the check
        switched = client.post("/console/switch", data={"csrf_token": token, "tenant": node.tenant})
        assert switched.status_code == 303
