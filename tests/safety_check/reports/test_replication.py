"""A report acknowledged at the primary is at the replica: its tables are captured and
shipped by the kernel and replication like every other tenant table. While the primary is
being replaced, a report gets a retryable 503 with Retry-After and leaves nothing; the
client's retry (same id, same content) is recorded once at the new primary."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from safety_check.reports.models import Report
from tests.replication.harness import SENDAI, Cluster, commit
from tests.safety_check.conftest import report_payload
from tests.support.factories import PASSWORD, user

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def two_sites(database_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    if database_url.startswith("sqlite"):
        urls = {name: f"sqlite:///{tmp_path / name}.db" for name in ("site-a", "site-b")}
    else:  # the primary on the PostgreSQL test database, the replica on SQLite
        urls = {"site-a": database_url, "site-b": f"sqlite:///{tmp_path / 'site-b'}.db"}
    cluster = Cluster(urls, tmp_path)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


async def test_a_report_written_at_the_primary_is_at_the_replica(two_sites: Cluster) -> None:
    cluster = two_sites
    cluster.place("site-a", ("site-b",))
    await cluster.create_tenant("site-a")
    await commit(cluster["site-a"], lambda db: user(db, SENDAI, "staff1", "staff"))
    async with httpx.AsyncClient(
        transport=cluster.router.view("phone"), base_url="http://site-a"
    ) as client:
        api = f"/api/v1/{SENDAI}"
        token = await client.post(
            f"{api}/auth/token", json={"username": "staff1", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        resident = await client.post(
            f"{api}/residents",
            json={
                "kind": "move_in",
                "effective_on": "2020-04-01",
                "resident_no": "R1",
                "household_no": "H1",
                "relationship": "世帯主",
                "family_name": "佐藤",
                "given_name": "花子",
                "family_kana": "サトウ",
                "given_kana": "ハナコ",
                "birth_date": "1980-05-06",
                "sex": "female",
                "address": {"town_name": "一番町一丁目", "block": "2-3"},
            },
            headers=headers,
        )
        assert resident.status_code == 201, resident.text
        campaign = await client.post(
            f"{api}/safety/campaigns", json={"title": "地震"}, headers=headers
        )
        assert campaign.status_code == 201, campaign.text
        body = report_payload(resident.json()["id"], status="needs_help")
        recorded = await client.post(
            f"{api}/safety/campaigns/{campaign.json()['id']}/reports", json=body, headers=headers
        )
        assert recorded.status_code == 201, recorded.text

    await cluster.caught_up("site-b")
    with cluster["site-b"].db.unit_of_work(SENDAI, read_only=True) as uow:
        copy = uow.session.execute(select(Report).where(Report.id == body["id"])).scalar_one()
        assert copy.status == "needs_help" and copy.town_name == "一番町一丁目"
    assert cluster["site-a"].digest() == cluster["site-b"].digest()

    later = {**body, "id": str(uuid.uuid4()), "status": "safe"}
    path = f"{api}/safety/campaigns/{campaign.json()['id']}/reports"
    await _a_report_while_the_primary_is_replaced(cluster, path, later, headers)


async def _a_report_while_the_primary_is_replaced(
    cluster: Cluster, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """The tenant moves to site-b, whose takeover is slow: a report sent there meanwhile is
    refused with a retryable 503 and writes nothing; retried as the 503 asks, it is
    recorded once, and a further resend answers the first result."""
    b = cluster["site-b"]
    head_before, digest_before = b.state().head, b.digest()
    async with httpx.AsyncClient(
        transport=cluster.router.view("phone"), base_url="http://site-b"
    ) as client:
        async with b.node.primaries._reconciling:  # the takeover waits
            cluster.place("site-b", ("site-a",))
            refused = await client.post(path, json=body, headers=headers)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            assert (b.state().head, b.digest()) == (head_before, digest_before)
        for _ in range(60):  # the phone retries, as Retry-After asks
            answer = await client.post(path, json=body, headers=headers)
            if answer.status_code != 503:
                break
            await asyncio.sleep(0.5)
        assert answer.status_code == 201, answer.text
        again = await client.post(path, json=body, headers=headers)
        assert again.status_code == 200 and again.json() == answer.json()
    await cluster.caught_up("site-a")
    for site in ("site-a", "site-b"):
        with cluster[site].db.unit_of_work(SENDAI, read_only=True) as uow:
            stored = uow.session.execute(
                select(func.count()).select_from(Report).where(Report.id == body["id"])
            ).scalar_one()
            assert stored == 1, site
    assert cluster["site-a"].digest() == b.digest()
