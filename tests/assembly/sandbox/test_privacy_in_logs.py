"""Personal data never reaches a log file: requests carrying distinctive names, addresses,
phone numbers and e-mail addresses go through every resident endpoint at every site of a
real sandbox (so most of them are forwarded to the tenant's primary), valid ones and
refused ones (422, 400, 409, 404), and then every log file of every site (node, worker,
etcd, Redis, S3) is searched for them, as written and as URLs or JSON would encode them.
The sandbox runs with TLS (`--tls`): the forwarded requests and the replication between
the sites travel over HTTPS with the sandbox's own CA."""

from __future__ import annotations

import json
import sqlite3
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assembly.sandbox.runner import Sandbox
from tests.support.factories import PASSWORD
from tests.support.sandboxes import demo_sandbox
from yui.auth import service as auth
from yui.db.database import Database
from yui.tls import OPERATOR, TlsFiles

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd, pytest.mark.slow, pytest.mark.timeout(180)]

#: the personal data sent; none of it is in the demo data or in any code path
FAMILY, GIVEN = "轟木", "鶴乃丞"
FAMILY_KANA, GIVEN_KANA = "トドロキ", "ツルノジョウ"
TOWN, BLOCK, BUILDING = "秘匿町九丁目", "97-53", "コーポ秘匿808"
PHONE, EMAIL = "03-9876-5432", "tsurunojo.todoroki@example.jp"
NEW_FAMILY, NEW_PHONE = "鷺ノ宮", "080-2468-1357"
NOTE = "轟木さん宅の裏口の鍵は植木鉢の下"
ROMAN = "TODOROKI-TSURUNOJO"
SECRETS = (FAMILY, GIVEN, FAMILY_KANA, GIVEN_KANA, TOWN, BUILDING, PHONE, EMAIL)
SECRETS += (NEW_FAMILY, NEW_PHONE, NOTE, ROMAN, "9876-5432", "2468-1357")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box, demo = demo_sandbox(tmp_path_factory, "privacy-sandbox", 18821, residents=5, tls=True)
    box.demo = demo  # type: ignore[attr-defined]
    for tenant in demo:  # a staff account at the tenant's primary, as the demo's admin is
        db = Database(f"sqlite:///{box.root / 'sites' / tenant.placement.primary / 'yui.db'}")
        try:
            with db.unit_of_work(tenant.code) as uow:
                auth.create_user(
                    uow.session, username="staff1", password=PASSWORD, roles=["staff"], actor="test"
                )
                uow.commit()
        finally:
            db.dispose()
    yield box
    box.down()


def _resident(number: int, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": "move_in",
        "effective_on": "2020-04-01",
        "resident_no": f"P{number:06d}",
        "household_no": f"PH{number:05d}",
        "relationship": "世帯主",
        "family_name": FAMILY,
        "given_name": GIVEN,
        "family_kana": FAMILY_KANA,
        "given_kana": GIVEN_KANA,
        "birth_date": "1961-07-08",
        "sex": "male",
        "address": {
            "town_code": "0010009",
            "town_name": TOWN,
            "block": BLOCK,
            "building": BUILDING,
        },
        "phone": PHONE,
        "email": EMAIL,
        "language": "ja",
    }
    payload.update(overrides)
    return payload


CSV_HEADER = (
    "宛名番号,世帯番号,氏名,氏名の振り仮名,生年月日,性別,続柄,町字,番地,方書,電話番号,支援措置"
)


def _csv(number: int, birth_date: str = "1961-07-08") -> bytes:
    row = (
        f"P{number:06d},PH{number:05d},{FAMILY}　{GIVEN},{FAMILY_KANA}　{GIVEN_KANA},"
        f"{birth_date},男,世帯主,{TOWN},{BLOCK},{BUILDING},{PHONE},0"
    )
    return (CSV_HEADER + "\r\n" + row + "\r\n").encode()


def _exercise(http: httpx.Client, api: str, number: int) -> list[int]:
    """Every resident endpoint that takes personal data, valid and refused; the statuses."""
    statuses = []

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = http.request(method, api + path, **kwargs)
        statuses.append(response.status_code)
        return response

    created = call("POST", "/residents", json=_resident(number))
    assert created.status_code == 201, created.text
    resident = created.json()
    call("POST", "/residents", json=_resident(number))  # 409: the number is taken
    call("POST", "/residents", json=_resident(number + 1, phone=f"{PHONE} {ROMAN}"))  # 422
    call("POST", "/residents", json=_resident(number + 1, email=f"{ROMAN}@"))  # 422
    call("POST", "/residents", json=_resident(number + 1, birth_date=f"{FAMILY}{PHONE}"))
    broken = json.dumps(_resident(number + 1), ensure_ascii=False)[:-3].encode()
    call("POST", "/residents", content=broken, headers={"content-type": "application/json"})
    call(
        "PATCH",
        f"/residents/{resident['id']}",
        json={"version": resident["version"], "family_name": NEW_FAMILY, "phone": NEW_PHONE},
    )
    call("PATCH", f"/residents/{resident['id']}", json={"version": 1, "phone": NEW_PHONE})  # 409
    call("GET", "/residents", params={"q": f"{FAMILY}{GIVEN}", "address": TOWN})
    call("GET", "/residents", params={"q": FAMILY_KANA + ROMAN * 10})  # 422: too long
    call("GET", f"/residents/{urllib.parse.quote(FAMILY + PHONE)}")  # 422: not an id
    call("GET", f"/{urllib.parse.quote(ROMAN + TOWN)}")  # 404
    call(
        "POST",
        f"/residents/{resident['id']}/moves",
        json={"kind": "relocation", "effective_on": "2021-05-06", "note": NOTE, "address": None},
    )
    call(
        "POST",
        f"/residents/{resident['id']}/moves",
        json={
            "kind": "relocation",
            "effective_on": "2021-05-06",
            "note": NOTE,
            "address": {"town_code": "0010009", "town_name": TOWN, "block": BLOCK},
        },
    )
    call(  # control characters in free text: refused, whatever the status
        "POST",
        f"/residents/{resident['id']}/moves",
        json={"kind": "household_change", "effective_on": "2021-05-07", "note": NOTE + "\x00\x85"},
    )
    csv_headers = {"content-type": "text/csv"}
    call("POST", "/imports/residents", content=_csv(number + 2), headers=csv_headers)
    call("POST", "/imports/residents", content=_csv(number + 3, "1961-02-30"), headers=csv_headers)
    call("POST", "/imports/residents", content=_csv(number + 2), headers=csv_headers)  # taken
    return statuses


def _replicated_everywhere(sandbox: Sandbox) -> None:
    """Every site holds the residents written (each tenant has a copy at every site)."""
    deadline = time.monotonic() + 30
    while True:
        counts = set()
        for database in (sandbox.root / "sites").glob("*/yui.db"):
            with sqlite3.connect(database) as connection:
                query = "SELECT count(*) FROM residents WHERE family_name IN (?, ?)"
                counts.add(connection.execute(query, (FAMILY, NEW_FAMILY)).fetchone()[0])
        if len(counts) == 1 and counts != {0}:
            return
        assert time.monotonic() < deadline, f"copies differ: {counts}"
        time.sleep(0.5)


def _node_urls(sandbox: Sandbox) -> list[str]:
    return [f"https://127.0.0.1:{r.port}" for r in sandbox.state.load() if r.role == "node"]


def _operator(sandbox: Sandbox) -> ssl.SSLContext:
    tls = sandbox.root / "keys" / "tls"
    return TlsFiles(
        tls / "ca.pem", tls / f"{OPERATOR}.crt", tls / f"{OPERATOR}.key"
    ).client_context()


def _encodings(secret: str) -> set[str]:
    """The forms a log line could hold ``secret`` in: as is, URL-encoded, JSON-escaped."""
    return {
        secret,
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=True)[1:-1],
    }


def test_no_personal_data_in_any_log_file(sandbox: Sandbox) -> None:
    number = 1
    everything: list[int] = []
    for tenant in sandbox.demo:  # type: ignore[attr-defined]
        for url in _node_urls(sandbox):
            with httpx.Client(
                base_url=url, timeout=30.0, trust_env=False, verify=_operator(sandbox)
            ) as http:
                token = http.post(
                    f"/api/v1/{tenant.code}/auth/token",
                    json={"username": "staff1", "password": PASSWORD},
                )
                assert token.status_code == 200, token.text
                http.headers["authorization"] = f"Bearer {token.json()['access_token']}"
                everything += _exercise(http, f"/api/v1/{tenant.code}", number)
            number += 10
    # the requests were served, refused in each of the ways a client can be refused
    assert {200, 201, 400, 404, 409, 422} <= set(everything), everything
    _replicated_everywhere(sandbox)  # over TLS, and the replicas log what they log

    files = [path for path in (sandbox.root / "logs").rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"node.log", "worker.log", "etcd.log"}
    assert all(path.stat().st_size for path in files if path.name == "node.log")
    found = {
        f"{path.relative_to(sandbox.root)}: {secret!r}"
        for path in files
        for text in [path.read_text("utf-8", errors="replace")]
        for secret in SECRETS
        for form in _encodings(secret)
        if form in text
    }
    assert not found, _context(files, sorted(found))


def _context(files: list[Path], found: list[str]) -> str:
    """The first lines that hold a secret, to see what logged it."""
    lines = [
        f"{path.name}: {line[:400]}"
        for path in files
        for line in path.read_text("utf-8", errors="replace").splitlines()
        if any(form in line for secret in SECRETS for form in _encodings(secret))
    ]
    return "\n".join(found + lines[:15])
