"""No personal data in the logs, through every endpoint (issue 12 item 9).

tests/assembly/sandbox/test_privacy_in_logs.py drives the residents' endpoints through a
real three-site sandbox (forwarded requests, valid and refused) and greps its log files.
This one reaches every operation of the API in one process, the way a site logs (yui's
log configuration, JSON lines, INFO): a distinctive name, address, phone number and
e-mail address in every path parameter, query parameter, JSON string field and CSV body,
valid or not, then the log output is searched for them. Most of these requests are
refused (422: personal data where an id belongs): refusals are where values are echoed.
Run with the access log writing the path instead of the route's template, it fails."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from assembly.site import create_app
from tests.conftest import TEST_SECRET, MigratedSchemas
from tests.support.factories import SENDAI, sign_in, tenant, user
from yui.db.database import Database
from yui.logging import configure, flush
from yui.logging import stop as stop_logging
from yui.settings import load_settings

NAME = "羽生蓮太郎"
ADDRESS = "結町九丁目77番7号"
PHONE = "090-5550-7731"
EMAIL = "renta.hanyu.7731@example.jp"
PERSONAL = (NAME, ADDRESS, PHONE, EMAIL)
#: one value carrying all four, where a field takes any text
EVERYTHING = f"{NAME} {ADDRESS} {PHONE} {EMAIL}"


@pytest.fixture
def site_logs() -> Iterator[io.StringIO]:
    """What a site node writes: yui's own configuration, into a buffer; put back after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    noisy = {
        name: logging.getLogger(name).level for name in ("uvicorn.access", "httpx", "httpcore")
    }
    buffer = io.StringIO()
    configure("test-site", "INFO", json_lines=True, stream=buffer)
    try:
        yield buffer
    finally:
        stop_logging()
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, noisy_level in noisy.items():
            logging.getLogger(name).setLevel(noisy_level)


def _strings(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A value of `schema` whose every text is personal data (numbers and flags as the
    schema allows, so that many requests get past validation into the handler)."""
    if "$ref" in schema:
        return _strings(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _strings(options[0], components, depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {
            name: _strings(sub, components, depth + 1)
            for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [_strings(schema.get("items", {}), components, depth + 1)]
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if schema.get("format") == "email":
        return EMAIL
    if schema.get("format") == "date":
        return "2020-01-01"
    return EVERYTHING


def test_no_personal_data_reaches_the_logs_from_any_endpoint(
    tmp_path: Path, migrated_schemas: MigratedSchemas, site_logs: io.StringIO
) -> None:
    db = Database(migrated_schemas.sqlite_copy(tmp_path / "site.db"))  # one database is enough
    tenant(db)
    user(db, SENDAI, "boss", "admin", "staff", "shelter", "depot")
    settings = load_settings(site="test-site", data_dir=tmp_path, token_secret=TEST_SECRET)
    app = create_app(settings, db, migrate=False)
    document = app.openapi()
    components = document["components"]["schemas"]
    statuses: dict[int, int] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = sign_in(client, SENDAI, "boss")
        for template, item in document["paths"].items():
            for method, operation in item.items():
                if template.endswith("/auth/sign-out"):
                    continue  # it would end the token the other requests carry
                path = template.replace("{tenant}", SENDAI)
                query = {}
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and parameter["name"] != "tenant":
                        path = path.replace(f"{{{parameter['name']}}}", quote(EVERYTHING))
                    elif parameter["in"] == "query":
                        query[parameter["name"]] = EVERYTHING
                content = operation.get("requestBody", {}).get("content", {})
                body: dict[str, Any] = {}
                if "application/json" in content:
                    body["json"] = _strings(content["application/json"]["schema"], components)
                elif content:  # CSV, XML, a form: the text itself
                    body["content"] = f"{EVERYTHING},{EVERYTHING}\r\n".encode()
                    body["headers"] = {**headers, "Content-Type": next(iter(content))}
                response = client.request(
                    method.upper(),
                    path,
                    params=query,
                    headers=body.pop("headers", headers),
                    **body,
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    db.dispose()
    flush()
    logged = site_logs.getvalue()
    assert sum(statuses.values()) > 120 and logged.count("\n") > 120, (statuses, logged[:500])
    # The handlers were reached, not only refused at the door.
    assert sum(n for status, n in statuses.items() if status < 400) > 20, statuses
    for value in PERSONAL:
        for form in {value, quote(value), json.dumps(value)[1:-1], quote(value, safe="")}:
            assert form not in logged, (value, form, _around(logged, form))


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 300) : at + 300]
