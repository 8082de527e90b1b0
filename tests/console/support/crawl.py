"""Following a console's links as a person would, to find which of its pages navigation
reaches: every link of every page reached, and every form that asks for a page (GET)
sent with what it offers first (its values, each list's selected or first choice),
from a few starting pages, without typing anything."""

from __future__ import annotations

import html
import re
from collections import deque
from collections.abc import Iterable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import compile_path

LINKS = re.compile(r"<a\b[^>]*\bhref=\"([^\"]+)\"", re.I)
GET_FORMS = re.compile(
    r"<form\b[^>]*\bmethod=\"get\"[^>]*\baction=\"([^\"]+)\"[^>]*>(.*?)</form>", re.I | re.S
)
SELECTS = re.compile(r"<select\b[^>]*\bname=\"([^\"]+)\"[^>]*>(.*?)</select>", re.I | re.S)
OPTIONS = re.compile(r"<option\b[^>]*\bvalue=\"([^\"]*)\"([^>]*)>", re.I)
INPUTS = re.compile(r"<input\b([^>]*)>", re.I)
ATTRIBUTE = re.compile(r"\b([a-z-]+)=\"([^\"]*)\"", re.I)
#: a page opened once with a set of query fields is known; more of its kind (each
#: resident) add nothing
VISITS_PER_PAGE = 1


def page_routes(app: FastAPI) -> list[str]:
    """Every path of the console that answers a GET, in the order they are matched."""
    found = []
    for included in app.router.routes:
        contexts = getattr(included, "effective_route_contexts", None)
        routes = (
            [(c.path_format, c.original_route) for c in contexts()]
            if contexts is not None
            else [(getattr(included, "path", ""), included)]
        )
        for path, route in routes:
            if (
                isinstance(route, APIRoute)
                and path.startswith("/console")
                and "GET" in route.methods
                and path not in found
            ):
                found.append(path)
    return found


def reached(client: httpx.Client, app: FastAPI, starts: Iterable[str]) -> set[str]:
    """The console's pages (their route's path) that a link or a GET form of a page
    reached from ``starts`` leads to, ``starts`` included."""
    routes = [(path, compile_path(path)[0]) for path in page_routes(app)]

    def route_of(url: str) -> str | None:
        path = urlsplit(url).path
        return next((name for name, pattern in routes if pattern.match(path)), None)

    found: set[str] = set()
    opened: dict[str, int] = {}
    waiting = deque(starts)
    seen = set(waiting)
    while waiting:
        url = waiting.popleft()
        route = route_of(url)
        if route is None:
            continue
        found.add(route)
        kind = route + "?" + "&".join(sorted(parse_qs(urlsplit(url).query)))
        if opened.get(kind, 0) >= VISITS_PER_PAGE:
            continue
        opened[kind] = opened.get(kind, 0) + 1
        answer = client.get(url)
        if answer.status_code != 200 or "text/html" not in answer.headers.get("content-type", ""):
            continue
        targets = [html.unescape(link) for link in LINKS.findall(answer.text)]
        targets += [
            sent(html.unescape(action), body) for action, body in GET_FORMS.findall(answer.text)
        ]
        for target in targets:
            if target.startswith("?"):
                target = urlsplit(url).path + target
            if not target.startswith("/console") or target.startswith("/console/static/"):
                continue
            if target not in seen:
                seen.add(target)
                waiting.append(target)
    return found


def sent(action: str, form: str) -> str:
    """The URL a GET form asks for when sent as it is offered."""
    fields: list[tuple[str, str]] = []
    for attributes in INPUTS.findall(form):
        given = {name.lower(): value for name, value in ATTRIBUTE.findall(attributes)}
        kind = given.get("type", "text")
        if "name" not in given or kind in ("submit", "button", "reset", "file"):
            continue
        if kind in ("checkbox", "radio") and "checked" not in attributes:
            continue
        fields.append((given["name"], html.unescape(given.get("value", ""))))
    for name, options in SELECTS.findall(form):
        offered = OPTIONS.findall(options)
        chosen = next((value for value, rest in offered if "selected" in rest), None)
        if chosen is None:
            chosen = next((value for value, _ in offered if value), "")
        fields.append((name, html.unescape(chosen)))
    return action + ("?" + urlencode(fields) if fields else "")
