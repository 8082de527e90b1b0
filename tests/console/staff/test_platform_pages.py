"""The operators' platform pages beyond the overview, in the browser: a tenant's
quarantined entries resolved through a confirmation step, a site's evacuation up to its
confirmation, the drill history with a drill's report, the alerts the site received.

The node is a site of a three-site topology whose cluster is failover's in-memory
coordination (the reference implementation of the etcd interface), so the pages read
real placements and sites; the quarantine, the drill reports and the alerts are the
real stores (replication's quarantine table, `yui drill`'s report folders, the alert
intake's record). Evacuations and switchovers that really move a primary need the
other sites: tests/console/staff/test_platform.py runs them in a whole sandbox.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from assembly.cluster import ClusterLink
from assembly.console_platform import NodePlatform
from console.common.session import SESSION_COOKIE, Session, SessionCodec
from failover.alerts import EvacuationSettings
from failover.alerts.api import AlertIntake, build_router
from failover.coordination.interface import SiteRecord
from failover.coordination.memory import MemoryCoordination
from failover.placement.policy import Placement
from replication.entries import LogEntry
from replication.models import QuarantinedEntry
from replication.replica import quarantine
from tests.console.support.browser import ConsoleNode, assert_accessible, screenshot
from tests.console.support.crawl import page_routes, reached
from tests.failover.alerts.conftest import cap_tsunami
from tests.support import factories
from yui.http import problems
from yui.settings import load_settings
from yui.topology import SiteSpec

OPERATOR_PASS = "operator-pass-for-the-platform-pages"
ALERT_TOKEN = "alert-intake-" + "p" * 40
HERE, SITE_B, SITE_C = "console-test", "site-b", "site-c"
SITES = (
    SiteSpec(
        name=HERE,
        provider="aws",
        region="ap-northeast-1",
        hazard_zones=("kanto",),
        latitude=35.68,
        longitude=139.69,
        url="http://127.0.0.1:18901",
    ),
    SiteSpec(
        name=SITE_B,
        provider="sakura",
        region="ishikari",
        hazard_zones=("hokkaido",),
        latitude=43.06,
        longitude=141.35,
        url="http://127.0.0.1:18902",
    ),
    SiteSpec(
        name=SITE_C,
        provider="gcp",
        region="osaka",
        hazard_zones=("kansai",),
        latitude=34.69,
        longitude=135.50,
        url="http://127.0.0.1:18903",
    ),
)
QUARANTINED = 23  # more than a page (20)
DRILLS = 23


def _topology(folder: Path) -> Path:
    path = folder / "topology.toml"
    path.write_text(
        "\n".join(
            f'[[site]]\nname = "{s.name}"\nprovider = "{s.provider}"\nregion = "{s.region}"\n'
            f'hazard_zones = ["{s.hazard_zones[0]}"]\nlatitude = {s.latitude}\n'
            f'longitude = {s.longitude}\nurl = "{s.url}"\n'
            for s in SITES
        )
    )
    return path


async def _cluster(coordination: MemoryCoordination) -> None:
    for spec in SITES:
        await coordination.register_site(SiteRecord.from_spec(spec))
    for tenant, primary, replicas in (
        (factories.SENDAI, HERE, (SITE_B, SITE_C)),
        (factories.CHIYODA, SITE_B, (HERE, SITE_C)),
    ):
        placement = Placement(tenant, primary, replicas, replicas, epoch=1)
        await coordination.put_placement_if(tenant, placement, 0)


def _quarantine(node: ConsoleNode) -> None:
    at = datetime.now(UTC)
    entries = [
        LogEntry(
            seq=100 + n,
            epoch=3,
            tx_seq=100 + n,
            table="residents",
            op="update",
            pk={"id": f"r-{n}"},
            row={"id": f"r-{n}", "name": "結 花子"},
            at=at,
        )
        for n in range(QUARANTINED)
    ]
    reason = "旧主系の未確認の末尾 / a deposed primary's unacknowledged tail"
    with node.db.engine.begin() as connection:
        quarantine.put(connection, factories.SENDAI, entries, "diverged", reason, SITE_B)


def _drill_reports(folder: Path) -> None:
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    for n in range(DRILLS):
        at = start + timedelta(hours=n)
        scenario = "primary-kill" if n % 2 else "partition"
        report_dir = folder / f"{at.strftime('%Y%m%dT%H%M%SZ')}-{scenario}"
        report_dir.mkdir(parents=True)
        ok = n != DRILLS - 1  # the newest failed
        report = {
            "scenario": scenario,
            "target": SITE_B,
            "outcome": "completed",
            "ok": ok,
            "started_at": at.isoformat(),
            "acknowledged_writes": 1000 + n,
            "lost_acknowledged_writes": 0 if ok else 2,
            "expectations": [
                {"name": "primaries moved off the target", "ok": True, "detail": ""},
                {"name": "no acknowledged write lost", "ok": ok, "detail": "" if ok else "2"},
            ],
            "notes": ["drill number " + str(n)],
        }
        (report_dir / "report.json").write_text(json.dumps(report), "utf-8")
        (report_dir / "report.html").write_text("<html></html>", "utf-8")


@pytest.fixture(scope="module")
def platform_node(
    node: ConsoleNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleNode]:
    """The console tests' node, lent a cluster view for this module (then alone again),
    with the alert intake's endpoint on its database under /test-intake (the node's own
    has no token configured)."""
    folder = tmp_path_factory.mktemp("platform-pages")
    topology = _topology(folder)
    drills = folder / "drills"
    _drill_reports(drills)
    app = node.extra["app"]
    coordination = MemoryCoordination()
    settings = load_settings(site=HERE, data_dir=folder, topology_file=topology, log_json=False)
    cluster = ClusterLink(settings, coordination)
    # a thread of its own: Playwright's sync API holds this thread's event loop
    with ThreadPoolExecutor(1) as worker:
        worker.submit(asyncio.run, _cluster(coordination)).result()
        worker.submit(asyncio.run, cluster.view.start()).result()
    intake = FastAPI()
    problems.install(intake)
    intake.include_router(
        build_router(
            AlertIntake(
                SITES,
                EvacuationSettings(),
                ALERT_TOKEN,
                None,
                database=node.db,
                primaries=lambda: {factories.SENDAI},
                site=HERE,
            )
        )
    )
    app.mount("/test-intake", intake)
    _quarantine(node)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("YUI_CONSOLE_OPERATOR_TOKEN", OPERATOR_PASS)
        env.setattr(app.state, "console_platform", NodePlatform(cluster, None, node.db, drills))
        node.extra["coordination"] = coordination
        try:
            yield node
        finally:
            app.router.routes[:] = [
                route for route in app.router.routes if getattr(route, "path", "") != "/test-intake"
            ]


def _sign_in(page: Any, node: ConsoleNode) -> None:
    page.goto(f"{node.url}/console/platform/sign-in")
    page.get_by_label("運用者の合言葉").fill(OPERATOR_PASS)
    page.get_by_role("button", name="運用者としてログイン").click()
    page.wait_for_url(re.compile(r"/console/platform$"))


def _unresolved(node: ConsoleNode) -> int:
    return len(quarantine.listing(node.db, factories.SENDAI))


def test_an_operator_resolves_a_quarantined_entry_after_confirming_it(
    platform_node: ConsoleNode, page: Any
) -> None:
    node = platform_node
    _sign_in(page, node)
    page.get_by_role("link", name="隔離エントリ").click()
    page.wait_for_url(re.compile(r"/quarantine$"))
    page.get_by_label("自治体コード").select_option(factories.SENDAI)
    page.get_by_role("button", name="表示").click()
    page.wait_for_url(re.compile(r"tenant="))
    table = page.get_by_test_id("quarantine")
    assert table.locator("tbody tr").count() == 20  # paged on the server
    assert "diverged" in table.inner_text() and "site-b のログから" in table.inner_text()
    screenshot(page, "platform-quarantine")
    assert_accessible(page)
    page.get_by_role("link", name="次のページ").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.get_by_test_id("quarantine").locator("tbody tr").count() == QUARANTINED - 20
    entry = page.get_by_test_id("quarantine").locator("tbody tr").first.get_attribute("data-entry")
    page.get_by_role("link", name=f"隔離エントリ {entry} の解決の確認へ").click()
    assert "結 花子" in page.get_by_test_id("entry").inner_text()
    assert_accessible(page)
    page.get_by_label("照合した人").fill("運用 太郎")
    page.get_by_label("照合の方法・結果").fill("新主系の行と同じ内容を確認")
    # the confirmation step: a wrong number resolves nothing
    page.get_by_label(re.compile("確認のためエントリ番号")).fill("999999")
    page.get_by_role("button", name="解決済みにする").click()
    assert "一致しません" in page.get_by_test_id("resolve-error").inner_text()
    assert _unresolved(node) == QUARANTINED
    page.get_by_label(re.compile("確認のためエントリ番号")).fill(str(entry))
    page.get_by_role("button", name="解決済みにする").click()
    assert "解決済みにしました（運用 太郎）" in page.get_by_test_id("resolved").inner_text()
    screenshot(page, "platform-resolved")
    assert_accessible(page)
    assert _unresolved(node) == QUARANTINED - 1
    with node.db.engine.connect() as connection:
        done = connection.execute(
            select(QuarantinedEntry).where(QuarantinedEntry.id == int(str(entry)))
        ).one()
    assert (done.resolved_by, done.resolution) == ("運用 太郎", "新主系の行と同じ内容を確認")
    # resolved once: the page says so, and offers nothing more
    page.goto(
        f"{node.url}/console/platform/quarantine/confirm?tenant={factories.SENDAI}"
        f"&site={HERE}&entry={entry}"
    )
    assert "解決済みです（運用 太郎" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="解決済みにする").count() == 0
    # refused requests write nothing and answer a page: a forged form, unknown codes
    forged = page.request.post(
        f"{node.url}/console/platform/quarantine/resolve",
        form={
            "tenant": factories.SENDAI,
            "site": HERE,
            "entry": "1",
            "by": "x",
            "note": "y",
            "confirm": "1",
            "csrf_token": "forged",
        },
    )
    assert forged.status == 403 and "text/html" in forged.headers["content-type"]
    assert "別のサイトから送られました" in forged.text()
    for query, status in (
        (f"tenant=999999&site={HERE}&entry=1", 404),
        (f"tenant={factories.SENDAI}&site=nowhere&entry=1", 404),
        (f"tenant={factories.SENDAI}&site={HERE}&entry=abc", 404),
        (f"tenant={factories.SENDAI}&site={HERE}&entry=99999", 404),
    ):
        answer = page.request.get(f"{node.url}/console/platform/quarantine/confirm?{query}")
        assert answer.status == status and "何も変更していません" in answer.text(), query
    assert _unresolved(node) == QUARANTINED - 1


def test_an_evacuation_is_confirmed_by_the_sites_name(
    platform_node: ConsoleNode, page: Any
) -> None:
    node = platform_node
    coordination: MemoryCoordination = node.extra["coordination"]
    _sign_in(page, node)
    page.get_by_role("button", name=f"{HERE} からの退避の確認へ").click()
    page.wait_for_url(re.compile(r"/console/platform/evacuations/confirm\?site="))
    assert "1 自治体" in page.get_by_test_id("planned").inner_text()
    plan = page.get_by_test_id("plan").inner_text()
    assert factories.SENDAI in plan and factories.CHIYODA not in plan
    screenshot(page, "platform-evacuate")
    assert_accessible(page)
    page.get_by_label(re.compile("運用者の氏名")).fill("運用 太郎")
    page.get_by_label(re.compile("理由")).fill("計画停電")
    page.get_by_label(re.compile("確認のため拠点名")).fill(SITE_B)
    page.get_by_role("button", name="退避する").click()
    assert "一致しません" in page.get_by_test_id("evacuation-error").inner_text()
    # the name, the reason and the operator are kept while the code is typed again
    assert page.get_by_label(re.compile("理由")).input_value() == "計画停電"
    forged = page.request.post(
        f"{node.url}/console/platform/evacuations",
        form={"site": HERE, "confirm": HERE, "reason": "x", "operator": "y", "csrf_token": "?"},
    )
    assert forged.status == 403 and "何も変更していません" in forged.text()
    for path, form in (  # the overview's forms too: a page, not problem+json
        ("moves", {"tenant": factories.SENDAI, "to": SITE_B, "confirm": factories.SENDAI}),
        ("sign-out", {}),
    ):
        forged = page.request.post(
            f"{node.url}/console/platform/{path}", form={**form, "csrf_token": "?"}
        )
        assert forged.status == 403 and "何も変更していません" in forged.text(), path
    unknown = page.request.get(f"{node.url}/console/platform/evacuations/confirm?site=../etc")
    assert unknown.status == 404 and "拠点 ../etc はありません" in unknown.text()
    coordination.stop()  # etcd out of reach: no plan can be read, and a page says so
    try:
        away = page.request.get(f"{node.url}/console/platform/evacuations/confirm?site={HERE}")
        assert away.status == 503 and "何も変更していません" in away.text()
    finally:
        coordination.start()
    # this node runs no replication: the move is refused, with a page that says why
    page.get_by_label(re.compile("確認のため拠点名")).fill(HERE)
    page.get_by_role("button", name="退避する").click()
    assert "複製を動かしていない" in page.get_by_test_id("refused").inner_text()
    assert_accessible(page)
    with ThreadPoolExecutor(1) as worker:
        placement, _ = worker.submit(
            asyncio.run, coordination.get_placement(factories.SENDAI)
        ).result()
    assert placement is not None and placement.primary == HERE  # nothing moved


def test_the_drill_history_lists_each_drill_and_opens_its_report(
    platform_node: ConsoleNode, page: Any
) -> None:
    node = platform_node
    _sign_in(page, node)
    page.get_by_role("link", name="訓練の履歴").click()
    page.wait_for_url(re.compile(r"/drills$"))
    rows = page.get_by_test_id("drills").locator("tbody tr")
    assert rows.count() == 20
    newest = rows.first
    assert "不合格" in newest.inner_text() and "primary-kill" not in newest.inner_text()
    assert "2026-12-01T03:00:00" not in page.get_by_test_id("drills").inner_text()
    screenshot(page, "platform-drills")
    assert_accessible(page)
    page.get_by_role("link", name="次のページ").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.get_by_test_id("drills").locator("tbody tr").count() == DRILLS - 20
    assert "2026-12-01T03:00:00" in page.get_by_test_id("drills").inner_text()  # the oldest
    page.goto(f"{node.url}/console/platform/drills")
    page.get_by_test_id("drills").locator("tbody tr").first.get_by_role("link").click()
    assert "不合格" in page.get_by_test_id("verdict").inner_text()
    assert "no acknowledged write lost" in page.get_by_test_id("expectations").inner_text()
    counts = page.get_by_test_id("counts").inner_text().replace("\u200b", "")  # wrap points
    assert "lost_acknowledged_writes\n2" in counts.replace("\t", "\n")
    screenshot(page, "platform-drill")
    assert_accessible(page)
    for name in ("20261201T030000Z-nothing", "..%2F..%2Fetc", "x"):
        answer = page.request.get(f"{node.url}/console/platform/drills/{name}")
        assert answer.status == 404 and "報告はありません" in answer.text(), name


def test_the_drill_history_reads_only_the_page_it_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of 20 out of many saved runs reads those 20 reports only (the folder names
    sort by time): a corrupt report elsewhere is never opened, one on the page shows as
    unreadable, and a drill's own page reads its report alone."""
    drills = tmp_path / "drills"
    runs = 130
    start = datetime(2026, 11, 1, tzinfo=UTC)
    names = []
    for n in range(runs):
        name = f"{(start + timedelta(hours=n)).strftime('%Y%m%dT%H%M%SZ')}-site-kill"
        (drills / name).mkdir(parents=True)
        report = {"scenario": "site-kill", "target": SITE_B, "ok": True, "outcome": "completed"}
        (drills / name / "report.json").write_text(json.dumps(report), "utf-8")
        names.append(name)
    newest_first = names[::-1]
    (drills / newest_first[60] / "report.json").write_text("{not json", "utf-8")  # page 4
    (drills / newest_first[25] / "report.json").write_text("[]", "utf-8")  # page 2
    read: list[str] = []
    real_read_text = Path.read_text

    def reading(path: Path, *args: Any, **kwargs: Any) -> str:
        if path.name == "report.json":
            read.append(path.parent.name)
        return real_read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", reading)
    platform = NodePlatform(None, None, None, drills)  # type: ignore[arg-type]  # no cluster
    rows, total = platform.drills(offset=0, limit=20)
    assert total == runs
    assert [row.name for row in rows] == newest_first[:20]
    assert all(row.ok and row.scenario == "site-kill" for row in rows)
    assert read == newest_first[:20]

    read.clear()
    rows, _ = platform.drills(offset=20, limit=20)
    assert [row.name for row in rows] == newest_first[20:40] and read == newest_first[20:40]
    unreadable = rows[5]
    assert (unreadable.ok, unreadable.scenario) == (False, "site-kill")
    assert "unreadable" in unreadable.outcome

    read.clear()
    found = platform.drill(newest_first[100])
    assert found is not None and found[0].name == newest_first[100]
    assert read == [newest_first[100]] * len(read) and read
    assert platform.drill(newest_first[60]) is None  # corrupt: no report page
    assert platform.drill("../" + newest_first[0]) is None


def test_the_alerts_received_are_listed_newest_first_with_the_decision(
    platform_node: ConsoleNode, page: Any
) -> None:
    node = platform_node
    headers = {"Content-Type": "application/cap+xml", "Authorization": f"Bearer {ALERT_TOKEN}"}
    sent = datetime.now(UTC).replace(microsecond=0)
    with httpx.Client(base_url=f"{node.url}/test-intake", timeout=30) as client:
        for n in range(21):  # older ones: decided only (dry run)
            body = cap_tsunami(
                43.06,
                141.35,
                event="Tsunami Advisory" if n < 20 else "Tsunami Warning",
                sent=(sent - timedelta(minutes=30 - n)).isoformat(),
            )
            answer = client.post(
                "/alerts/v1/ingest", content=body, headers=headers, params={"dry_run": n < 20}
            )
            assert answer.status_code == 200, answer.text
        refused = client.post(
            "/alerts/v1/ingest", content=body, headers={**headers, "Authorization": "Bearer no"}
        )
        assert refused.status_code == 401
    _sign_in(page, node)
    page.get_by_role("link", name="受信した警報").click()
    page.wait_for_url(re.compile(r"/alerts$"))
    table = page.get_by_test_id("alerts")
    assert "受信した警報 21 件" in page.locator("main").inner_text()
    assert table.locator("tbody tr").count() == 20
    newest = table.locator("tbody tr").first.inner_text()
    assert "Tsunami Warning" in newest and SITE_B in newest  # the site under the warning
    assert "判断のみ" not in newest
    assert "判断のみ" in table.locator("tbody tr").nth(1).inner_text()
    screenshot(page, "platform-alerts")
    assert_accessible(page)
    page.get_by_role("link", name="次のページ").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.get_by_test_id("alerts").locator("tbody tr").count() == 1


def test_every_operator_page_is_reached_from_the_overview(platform_node: ConsoleNode) -> None:
    """Following the operator's links and forms (as offered, nothing typed) from the
    overview reaches every platform page; its sign-in is linked from the staff sign-in
    page (tests/console/common/test_navigation.py)."""
    node = platform_node
    app = node.extra["app"]
    cookie = SessionCodec(node.signing_key).dumps(Session(operator_until=int(time.time()) + 600))
    with httpx.Client(base_url=node.url, cookies={SESSION_COOKIE: cookie}) as client:
        found = reached(client, app, ["/console/platform"])
    expected = {
        path
        for path in page_routes(app)
        if path.startswith("/console/platform") and path != "/console/platform/sign-in"
    }
    assert len(expected) >= 8 and sorted(expected - found) == []


def test_the_tenants_are_paged_and_filtered_on_the_server(
    platform_node: ConsoleNode, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform serves hundreds of municipalities: the overview shows a page of them,
    filtered by the start of a code and by the primary's site. (Before, every tenant on
    one page.) One a page here, with this cluster's two."""
    monkeypatch.setattr("console.staff.platform.PAGE_SIZE", 1)
    _sign_in(page, platform_node)

    def shown() -> list[str | None]:
        rows = page.get_by_test_id("tenants").locator("tbody tr")
        return [row.get_attribute("data-tenant") for row in rows.all()]

    assert page.get_by_test_id("tenants-count").inner_text() == "2 自治体"
    assert shown() == [factories.SENDAI]
    page.get_by_role("link", name="次のページ").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert shown() == [factories.CHIYODA]
    assert_accessible(page)
    page.get_by_label("主系の拠点").select_option(SITE_B)
    page.get_by_role("button", name="絞り込む").click()
    page.wait_for_url(re.compile(rf"primary={SITE_B}"))
    assert (
        shown() == [factories.CHIYODA] and page.get_by_role("link", name="次のページ").count() == 0
    )
    page.get_by_label("主系の拠点").select_option("")
    page.get_by_label(re.compile("自治体コード（先頭")).fill("04")
    page.get_by_role("button", name="絞り込む").click()
    page.wait_for_url(re.compile(r"tenant=04"))
    assert shown() == [factories.SENDAI]
    page.get_by_label(re.compile("自治体コード（先頭")).fill("99")
    page.get_by_role("button", name="絞り込む").click()
    page.wait_for_url(re.compile(r"tenant=99"))
    assert page.get_by_test_id("tenants-empty").is_visible()
