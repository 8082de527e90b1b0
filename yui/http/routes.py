"""What logs and metrics call a request: its route's template, never its path."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

UNMATCHED = "unmatched"


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The route a request is for, as its template (``/api/v1/{tenant}/residents/{resident_id}``):
    what logs and metrics name instead of the path, which can carry personal data (a name
    typed where an id belongs). A request the gateway forwarded never reached the router
    here: it is matched against ``routes``."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", UNMATCHED))
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match is not Match.NONE:
            return str(getattr(candidate, "path", UNMATCHED))
    return UNMATCHED
