"""Every page says which site served it and where its data came from: the primary, or a
replica with its lag. Two more site nodes share the console node's database as a
primary and its replica would (the replica's gateway is told the placement and its lag;
writes it forwards): the console is signed in at the replica, as a staff member at a
site far from the municipality's primary would be."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from assembly.site import create_app
from console.common.session import SESSION_COOKIE, Session, SessionCodec, TenantSignIn
from residents.registry.models import Resident
from tests.console.support.browser import PASSWORD, STAFF, TOKEN_SECRET, ConsoleNode
from tests.support.servers import serving
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.http.gateway import Route
from yui.settings import Settings, load_settings

PRIMARY, REPLICA = "site-a", "site-b"
LAG_ENTRIES, LAG_SECONDS = 3, 1.5


@dataclass
class Sites:
    replica_url: str
    tenant: str
    cookie: str
    resident: Resident
    campaign: str


def _gate(code: str) -> None:
    raise NotPrimary(f"{REPLICA} is a replica of {code}")


@pytest.fixture(scope="module")
def sites(node: ConsoleNode) -> Iterator[Sites]:
    url = str(node.db.url)
    with tempfile.TemporaryDirectory(prefix="yui-console-served-") as folder:

        def settings(site: str) -> Settings:
            return load_settings(
                site=site,
                data_dir=Path(folder) / site,
                database_url=url,
                token_secret=TOKEN_SECRET,
                log_json=False,
                token_account_check_seconds=0.0,
            )

        primary_route = Route(
            primary=PRIMARY, primary_url=None, has_local_copy=True, primary_confirmed=True
        )
        primary_app = create_app(
            settings(PRIMARY), Database(url), migrate=False, route_lookup=lambda _: primary_route
        )
        with serving(primary_app) as primary_url:
            replica_route = Route(
                primary=PRIMARY,
                primary_url=primary_url,
                has_local_copy=True,
                lag_entries=LAG_ENTRIES,
                lag_seconds=LAG_SECONDS,
            )
            replica_app = create_app(
                settings(REPLICA),
                Database(url),
                migrate=False,
                route_lookup=lambda _: replica_route,
                write_gate=_gate,
            )
            with serving(replica_app) as replica_url:
                api = f"{replica_url}/api/v1/{node.tenant}"
                # the sign-in is a write: the replica forwards it to the primary
                signed_in = httpx.post(
                    f"{api}/auth/token", json={"username": STAFF, "password": PASSWORD}
                )
                assert signed_in.headers.get("x-yui-forwarded-to") == PRIMARY, signed_in.text
                token = signed_in.json()["access_token"]
                headers = {"authorization": f"Bearer {token}"}
                opened = httpx.post(
                    f"{api}/safety/campaigns",
                    headers=headers,
                    json={"title": "拠点の表示の確認", "kind": "drill"},
                )
                assert opened.status_code == 201, opened.text
                session = Session()
                session.add(
                    TenantSignIn(
                        tenant=node.tenant,
                        token=token,
                        username=STAFF,
                        roles=("staff",),
                        expires_at=int(time.time()) + 600,
                        name="仙台市",
                    )
                )
                with node.db.unit_of_work(node.tenant, read_only=True) as uow:
                    resident = uow.session.execute(select(Resident).limit(1)).scalars().one()
                try:
                    yield Sites(
                        replica_url=replica_url,
                        tenant=node.tenant,
                        cookie=SessionCodec(node.signing_key).dumps(session),
                        resident=resident,
                        campaign=str(opened.json()["id"]),
                    )
                finally:
                    httpx.post(
                        f"{api}/safety/campaigns/{opened.json()['id']}/close", headers=headers
                    )


def banner(sites: Sites, path: str) -> str:
    """The page's "served" line, as text."""
    answer = httpx.get(sites.replica_url + path, cookies={SESSION_COOKIE: sites.cookie})
    assert answer.status_code == 200, answer.text[:500]
    found = re.search(r'data-testid="served">(.*?)</p>', answer.text, re.S)
    assert found, answer.text[:500]
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_a_page_with_a_replica_s_data_says_so_with_its_lag(sites: Sites) -> None:
    """The dashboard's counts and curve are the replica's, its unconfirmed list (an
    audited read, so a write) the primary's: the page warns of the replica's lag. Before,
    it said "the primary" (the list's answer) over the replica's counts."""
    replica = f"表示した拠点: {REPLICA} データ: {REPLICA} の複製 遅れ 1.5 秒（3 件）"
    assert banner(sites, f"/console/t/{sites.tenant}/?campaign={sites.campaign}") == replica
    assert banner(sites, f"/console/citizen/{sites.tenant}") == replica


def test_an_audited_view_is_the_primary_s_and_says_so(sites: Sites) -> None:
    """Every view of personal data writes its audit entry, so the replica forwards it."""
    person = sites.resident
    tenant = f"/console/t/{sites.tenant}"
    for path in (
        f"{tenant}/residents?q={person.family_name}",
        f"{tenant}/residents/{person.id}",
        f"{tenant}/households/{person.household_id}",
    ):
        assert banner(sites, path) == f"表示した拠点: {REPLICA} データ: {PRIMARY} の主系", path


def test_a_page_that_reads_no_data_claims_no_copy(sites: Sites) -> None:
    """Before: the sign-in page of a replica said its data was "this site (standalone)"."""
    for path in ("/console/sign-in", f"/console/t/{sites.tenant}/imports/new"):
        assert banner(sites, path) == f"表示した拠点: {REPLICA}", path
