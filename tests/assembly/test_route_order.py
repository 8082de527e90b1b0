"""The API's routers are matched in order, busiest first (assembly.site.service_routers):
that order is only safe while no route of one router also matches a path of another
(with the same method), whatever the order. This checks it for every pair."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from assembly.site import API_PREFIX, service_routers


def _routes() -> list[tuple[int, str, set[str]]]:
    found = []
    for index, router in enumerate(service_routers()):
        app = FastAPI()
        app.include_router(router, prefix=API_PREFIX)
        for included in app.router.routes:
            contexts = getattr(included, "effective_route_contexts", None)
            for context in contexts() if contexts is not None else ():
                if isinstance(context.original_route, APIRoute):
                    found.append((index, context.path_format, set(context.original_route.methods)))
    return found


def test_no_route_of_one_api_router_matches_a_path_of_another() -> None:
    routes = _routes()
    assert len({index for index, _, _ in routes}) == len(service_routers())
    clashes = [
        (path, other)
        for index, path, methods in routes
        for other_index, other, other_methods in routes
        if index != other_index
        and methods & other_methods
        and compile_path(path)[0].match(re.sub(r"\{[^}]+\}", "041009", other))
    ]
    assert clashes == []
