"""A report acknowledged at the primary is at the replica: its tables are captured and
shipped by the kernel and replication like every other tenant table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

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
