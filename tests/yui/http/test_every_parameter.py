"""The one rule for text (yui/text.py) reaches every parameter of every route, not only
request bodies (issue 12 item 3), and dates are YYYY-MM-DD everywhere (item 5, `?on=0`).

Request bodies are held to the rule by `test_every_request_schema_derives_from_the_kernel_input_model`
(tests/residents/test_input_rules.py). A path, query or header parameter is held to it
by its type: text is `LineText` (or has a pattern), a date is `CalendarDate`. A plain
`str` let a NUL through to PostgreSQL, which refuses it: a 500."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from assembly.site import create_app
from tests.conftest import TEST_SECRET
from tests.support.factories import SENDAI, sign_in, tenant, user
from yui.db.database import Database
from yui.settings import load_settings
from yui.text import CalendarDate, LineText

#: the console's pages read their forms and queries themselves and hand the values to the
#: services' request schemas (InputModel); its own tests cover them
OUTSIDE = ("/console",)

_CHECKS = {
    str: typing.get_args(LineText)[1:],
    date: typing.get_args(CalendarDate)[1:],
}


def _api_routes(
    routes: typing.Sequence[BaseRoute], prefix: str = ""
) -> Iterator[tuple[str, APIRoute]]:
    """(the path as served, the route) of every route, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        included = getattr(route, "original_router", None)  # a router FastAPI includes lazily
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _api_routes(included.routes, prefix + getattr(context, "prefix", ""))


def _parameters(dependant: Any) -> Iterator[tuple[str, Any]]:
    for kind in ("path_params", "query_params", "header_params", "cookie_params"):
        for parameter in getattr(dependant, kind):
            yield kind.removesuffix("_params"), parameter
    for sub in dependant.dependencies:
        yield from _parameters(sub)


def _leaves(annotation: Any) -> Iterator[tuple[Any, list[Any]]]:
    """Each type a value may take (through Optional, list and Annotated), with the
    metadata Annotated attaches on the way."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        for leaf, found in _leaves(base):
            yield leaf, [*metadata, *found]
    elif origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        for argument in typing.get_args(annotation):
            yield from _leaves(argument)
    else:
        yield annotation, []


def _unchecked(path: str, route: APIRoute) -> list[str]:
    found = []
    for kind, parameter in _parameters(route.dependant):
        info = parameter.field_info
        for leaf, metadata in _leaves(info.annotation):
            metadata = [*metadata, *info.metadata]
            if leaf is str and any(getattr(m, "pattern", None) for m in metadata):
                continue
            if leaf in _CHECKS and not all(check in metadata for check in _CHECKS[leaf]):
                methods = ",".join(sorted(route.methods or ()))
                found.append(f"{methods} {path} {kind} {parameter.name}: {leaf.__name__}")
    return found


def test_every_text_and_date_parameter_is_checked() -> None:
    app = create_app(load_settings(token_secret=TEST_SECRET, database_url="sqlite://"))
    routes = [(p, r) for p, r in _api_routes(app.routes) if not p.startswith(OUTSIDE)]
    assert len(routes) > 120  # the walk reached the services' routers
    assert sorted(problem for path, route in routes for problem in _unchecked(path, route)) == []


def test_the_walk_finds_an_unchecked_parameter() -> None:
    """The walk itself: a plain str and a plain date are found, LineText is not."""
    app = FastAPI()

    @app.get("/probe/{name}")
    def probe(
        name: str,
        items: typing.Annotated[list[str], Query()],
        fine: typing.Annotated[list[LineText], Query()],
        on: date | None = None,
        at: datetime | None = None,
    ) -> None:
        return None

    ((path, route),) = _api_routes(app.routes)
    assert sorted(_unchecked(path, route)) == [
        "GET /probe/{name} path name: str",
        "GET /probe/{name} query items: str",
        "GET /probe/{name} query on: date",
    ]


def test_a_control_character_or_a_number_for_a_date_is_a_422(
    client: TestClient, db: Database
) -> None:
    """On PostgreSQL the first two answered 500 (it refuses NUL in text); the third read
    `on=0` as 1970-01-01."""
    tenant(db)
    user(db, SENDAI, "boss", "admin", "staff", "depot")
    headers = sign_in(client, SENDAI, "boss")
    shelter = {"code": "S1", "name": "避難所", "kind": "shelter"}
    api = f"/api/v1/{SENDAI}"
    assert client.post(f"{api}/supplies/places", json=shelter, headers=headers).status_code == 201
    for method, path in (
        ("GET", "/supplies/allocation/lots?item=a%00b"),
        ("DELETE", "/supplies/places/S1/assignments/a%00b"),
        ("GET", "/supplies/needs?on=0"),
    ):
        response = client.request(method, f"{api}{path}", headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
