"""The citizens' search: public, exact on full name and birth date, minimal, never a
DV-blocked resident, audited, limited per client in the site's shared counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assembly.site import create_app
from tests.conftest import TEST_SECRET
from tests.residents.conftest import audit_entries, resident_payload
from tests.safety_check.conftest import Office, open_campaign, report, report_payload
from tests.support.factories import CHIYODA, sign_in, tenant, user
from tests.support.servers import redis_server
from yui.db.database import Database
from yui.http.gateway import Route
from yui.settings import Settings, load_settings

HANAKO = {"name": "佐藤 花子", "birth_date": "1980-05-06"}
SECRET = {"family_name": "秘匿", "given_name": "花", "family_kana": "ヒトク", "given_kana": "ハナ"}


def search(office: Office, body: dict[str, Any], tenant_code: str | None = None) -> Any:
    return office.client.post(f"/api/v1/{tenant_code or office.code}/safety/search", json=body)


def everywhere(office: Office, body: dict[str, Any]) -> Any:
    return office.client.post("/safety/v1/search", json=body)


def test_a_citizen_finds_only_an_exact_match_and_only_its_status_and_time(
    office: Office,
) -> None:
    hanako = office.register(phone="090-1111-2222")
    office.register(given_name="花子美", given_kana="ハナコミ")  # a longer name, same birth date
    blocked = office.register(**SECRET, birth_date="1975-01-01")
    office.block(blocked["id"])
    # before any live campaign, and during a drill, nothing is searched
    open_campaign(office, kind="drill")
    quiet = search(office, HANAKO)
    assert quiet.status_code == 200, quiet.text
    assert quiet.json()["searching"] is False and quiet.json()["matches"] == []

    campaign = open_campaign(office)
    # no report yet: found, no information
    first = search(office, {"name": "さとう　はなこ", "birth_date": "1980-05-06"}).json()
    assert first["matches"] == [{"status": "no_information", "reported_at": None}]

    at_shelter = report_payload(
        hanako["id"], status="at_shelter", shelter="一番町小学校", location="体育館"
    )
    assert report(office, campaign["id"], at_shelter).status_code == 201
    for name in ("佐藤花子", "サトウ ハナコ", "ｻﾄｳ ﾊﾅｺ"):
        answer = search(office, {"name": name, "birth_date": "1980-05-06"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["tenant"] == office.code and body["municipality"] == "仙台市"
        assert [m["status"] for m in body["matches"]] == ["safe"], name
        assert body["matches"][0]["reported_at"] is not None
        # never where the person is, how to reach them, or who they are in the registry
        for secret in ("一番町", "体育館", "090-1111-2222", "1111-2222", hanako["id"], "電話"):
            assert secret not in answer.text

    # a prefix, another birth date: nobody (the search names one person, not a family)
    assert search(office, {**HANAKO, "name": "佐藤花"}).json()["matches"] == []
    assert search(office, {**HANAKO, "birth_date": "1980-05-07"}).json()["matches"] == []

    # believed_dead is not told to an unverified searcher
    dead = report_payload(hanako["id"], status="believed_dead")
    assert report(office, campaign["id"], dead).status_code == 201
    assert search(office, HANAKO).json()["matches"][0]["status"] == "contact_municipality"

    # a DV-blocked resident with reports is as unknown as nobody at all
    assert report(office, campaign["id"], report_payload(blocked["id"])).status_code == 201
    hidden = search(office, {"name": "秘匿花", "birth_date": "1975-01-01"})
    nobody = search(office, {"name": "存在しない", "birth_date": "1975-01-01"})
    assert hidden.status_code == nobody.status_code == 200
    assert hidden.json() == nobody.json()
    across = everywhere(office, {"name": "ヒトクハナ", "birth_date": "1975-01-01"}).json()
    assert across["found"] == [] and across["unavailable"] == []

    searches = [e for e in audit_entries(office) if e["action"] == "safety.public_search"]
    assert searches and all(e["actor"] == "public:testclient" for e in searches)
    assert {tuple(e["detail"]["results"]) for e in searches} == {(hanako["id"],), ()}
    assert "directory.identify" in {e["action"] for e in audit_entries(office)}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_search_across_municipalities_and_bad_input(office: Office) -> None:
    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "staff2", "staff")
    chiyoda_staff = sign_in(office.client, CHIYODA, "staff2")
    moved = office.client.post(
        f"/api/v1/{CHIYODA}/residents", json=resident_payload(), headers=chiyoda_staff
    )
    assert moved.status_code == 201, moved.text
    campaign = office.client.post(
        f"/api/v1/{CHIYODA}/safety/campaigns",
        json={"title": "首都直下地震", "kind": "live"},
        headers=chiyoda_staff,
    )
    assert campaign.status_code == 201, campaign.text
    open_campaign(office)  # Sendai searches too, and has no such person

    answer = everywhere(office, HANAKO)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["asked"] == 2 and body["unavailable"] == []
    assert [(f["tenant"], f["municipality"]) for f in body["found"]] == [(CHIYODA, "千代田区")]
    assert body["found"][0]["matches"] == [{"status": "no_information", "reported_at": None}]

    for bad in (
        {"name": "佐藤花子"},  # no birth date
        {"name": "佐", "birth_date": "1980-05-06"},  # not a full name
        {"name": "佐藤\x00花子", "birth_date": "1980-05-06"},
        {"name": "佐藤花子", "birth_date": "1980/05/06"},
    ):
        refused = everywhere(office, bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert search(office, bad).status_code == 422
    huge = office.client.post("/safety/v1/search", json={**HANAKO, "name": "佐" * 700_000})
    assert huge.status_code == 413
    assert search(office, HANAKO, tenant_code="999999").status_code in (404, 422)


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_limit_is_shared_by_the_sites_processes_and_not_the_clients_to_set(
    db: Database, tmp_path: Path, database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUI_SAFETY_SEARCH_PER_CLIENT", "3")
    tenant(db)
    settings = load_settings(
        site="test-site",
        data_dir=tmp_path,
        database_url=database_url,
        token_secret=TEST_SECRET,
        log_json=False,
        redis_url=redis_url,
    )
    # two processes of one site: two apps over the same database and Redis
    with (
        TestClient(create_app(settings, db, migrate=False)) as one,
        TestClient(create_app(settings, db, migrate=False)) as two,
    ):
        assert one.post("/safety/v1/search", json=HANAKO).status_code == 200
        assert two.post("/safety/v1/search", json=HANAKO).status_code == 200
        # a forwarding mark or a made-up address is no way out of one's own count
        spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Yui-Forwarded-For": "203.0.113.9"}
        assert one.post("/safety/v1/search", json=HANAKO, headers=spoofed).status_code == 200
        refused = two.post("/safety/v1/search", json=HANAKO, headers=spoofed)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        # the three searches asked Sendai as this client: asking it directly is no way out
        assert one.post("/api/v1/041009/safety/search", json=HANAKO).status_code == 429


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_municipality_held_here_as_a_replica_is_asked_at_its_primary(
    office: Office, settings: Settings
) -> None:
    """The search across municipalities goes through the site's gateway: a tenant whose
    copy this site holds as a replica is not read here (the search writes its audit entry
    at the primary), and when its primary cannot be reached it is listed as unavailable."""
    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "staff2", "staff")
    chiyoda_staff = sign_in(office.client, CHIYODA, "staff2")
    assert (
        office.client.post(
            f"/api/v1/{CHIYODA}/residents", json=resident_payload(), headers=chiyoda_staff
        ).status_code
        == 201
    )
    assert (
        office.client.post(
            f"/api/v1/{CHIYODA}/safety/campaigns",
            json={"title": "地震", "kind": "live"},
            headers=chiyoda_staff,
        ).status_code
        == 201
    )

    def route(code: str) -> Route | None:
        if code == CHIYODA:  # a replica here; its primary elsewhere, unreachable now
            return Route(primary="site-b", primary_url="http://127.0.0.1:9", has_local_copy=True)
        return None  # Sendai: served here

    with TestClient(create_app(settings, office.db, migrate=False, route_lookup=route)) as site:
        answer = site.post("/safety/v1/search", json=HANAKO)
    assert answer.status_code == 200, answer.text
    assert answer.json()["found"] == [] and answer.json()["unavailable"] == [CHIYODA]
    assert answer.json()["asked"] == 2
