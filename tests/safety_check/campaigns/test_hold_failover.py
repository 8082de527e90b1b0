"""An alert's campaign across a failover: the replica's intake leaves the tenant to its
primary; the held campaign replicates with its deadline; the new primary opens it once when
the hold has ended, and the same alert delivered to it opens nothing new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from assembly.site import job_kinds, job_schedules
from failover.alerts.announce import Announcement, announce
from safety_check.campaigns import jobs as hold_jobs
from safety_check.campaigns.models import Campaign, CampaignAlert
from tests.replication.conftest import anyio_backend, cluster, site_urls  # noqa: F401
from tests.replication.harness import SENDAI, Cluster, Site, commit
from tests.safety_check.campaigns.cap import cap_alert
from yui.db.database import Database
from yui.hazard_alerts import parse_alert
from yui.jobs.runner import run_job
from yui.jobs.worker import Runtime, create_scheduled
from yui.settings import load_settings

# the replication suite runs every backend; here what matters is the campaign's rows (the
# make-test budget): SQLite sites only
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("site_urls", ["sqlite"], indirect=True)]

#: the alert came in 11 minutes ago: its 10-minute hold ended during the failover
RECEIVED = datetime.now(UTC) - timedelta(minutes=11)
ALERT = parse_alert(cap_alert("quake-failover", sent=RECEIVED - timedelta(minutes=1)))


async def _announce(site: Site) -> Announcement:
    told: list[Announcement] = []
    await commit(
        site, lambda db: told.append(announce(ALERT, db, [SENDAI], site=site.name, now=RECEIVED))
    )
    return told[0]


def _campaigns(db: Database) -> list[Campaign]:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return list(uow.session.execute(select(Campaign)).scalars())


def _release(site: Site) -> None:
    settings = load_settings(site=site.name, log_json=False)
    runtime = Runtime(
        site=site.name,
        db=site.db,
        kinds=job_kinds(settings),
        primaries=lambda: {SENDAI},
        redis_url="redis://unused",
        schedules=job_schedules(settings),
    )
    for job_id in create_scheduled(runtime, SENDAI):
        assert run_job(site.db, runtime.kinds, SENDAI, job_id, site=site.name).state == "done"


async def test_the_new_primary_opens_the_held_campaign_once(cluster: Cluster) -> None:  # noqa: F811
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")
    a, b, c = cluster["site-a"], cluster["site-b"], cluster["site-c"]

    # the alert reaches every site: the replicas' write gates leave the tenant to its primary
    at_replica = await _announce(b)
    assert at_replica.told == () and "primary" in at_replica.skipped[SENDAI]
    assert (await _announce(a)).told == (SENDAI,)
    await cluster.caught_up("site-b", "site-c")
    [held] = _campaigns(b.db)
    assert held.state == "pending" and held.hold_until == RECEIVED + timedelta(minutes=10)

    # the primary is lost before its dispatcher released the hold; b is promoted
    cluster.router.down.add("site-a")
    controller = cluster.client("site-c")
    epoch = cluster.placements.revision + 1
    for replica in ("site-b", "site-c"):
        await controller.seal(replica, SENDAI, epoch)
    cluster.place("site-b", ("site-c", "site-a"), in_sync=("site-c",))
    await cluster.wait_for(lambda: b.state().role == "primary", what="b to take over")

    # the same alert delivered to the new primary: nothing new
    assert (await _announce(b)).told == (SENDAI,)
    # the stored deadline has passed: the new primary's dispatcher releases it, once
    assert hold_jobs.holds_due(b.db, SENDAI)
    await commit(b, lambda _db: _release(b))
    await commit(b, lambda _db: _release(b))  # nothing due any more: no job, no change
    await cluster.caught_up("site-c")
    for db in (b.db, c.db):
        [opened] = _campaigns(db)
        assert opened.id == held.id and opened.state == "open"
        assert opened.released_at == held.hold_until and opened.released_by == "hold"
        with db.unit_of_work(SENDAI, read_only=True) as uow:
            notices = list(uow.session.execute(select(CampaignAlert)).scalars())
            assert [notice.role for notice in notices] == ["opened"]
    assert b.digest() == c.digest()
