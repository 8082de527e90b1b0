"""`yui alerts ingest`: every sample decided, every negative refused, the trigger when wired,
and the alert kept for the console as the HTTP intake keeps it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from assembly.cli import alerts as alerts_cli
from assembly.cli.jobs import EveryTenant
from assembly.cli.main import app
from failover.alerts import EvacuationRequest, EvacuationSettings
from failover.alerts.api import AlertIntake, build_router
from failover.alerts.received import count_received, received
from tests.failover.alerts.conftest import cap_tsunami, fixtures_dir, sandbox_sites, topology_toml
from tests.failover.alerts.test_api import TOKEN
from yui.db.database import Database

runner = CliRunner()
SITES = sandbox_sites()


@pytest.fixture
def topology(tmp_path: Path) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(topology_toml(SITES))
    return path


@pytest.fixture
def no_trigger() -> Iterator[None]:
    alerts_cli.wire_trigger(None)
    yield
    alerts_cli.wire_trigger(None)


def _ingest(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["alerts", "ingest", *args])
    return result.exit_code, result.output


def _samples() -> list[Path]:
    cap = fixtures_dir() / "cap"
    return sorted(p for p in [*cap.iterdir(), *(cap / "jma").iterdir()] if p.is_file())


def test_every_sample_is_decided_and_printed_as_json(topology: Path, no_trigger: None) -> None:
    for path in _samples():
        for extra in ([], ["--drill"]):
            code, output = _ingest(str(path), "--topology", str(topology), "--json", *extra)
            assert code == 0, (path.name, output)
            decided = json.loads(output)
            assert decided["action"] in ("none", "drill-only")  # none is over a sandbox site
            assert decided["executed"] is False and decided["per_site"]


def test_every_negative_sample_is_refused_with_a_clear_message(
    topology: Path, no_trigger: None
) -> None:
    negatives = sorted((fixtures_dir() / "cap" / "negative").iterdir())
    assert negatives
    for path in negatives:
        code, output = _ingest(str(path), "--topology", str(topology))
        assert code == 2, (path.name, output)
        text = " ".join(output.split())
        assert "cannot parse alert XML" in text and path.name in text, text


def test_a_missing_file_and_missing_sites_are_clear_errors(
    tmp_path: Path, topology: Path, no_trigger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _ingest(str(tmp_path / "nope.xml"), "--topology", str(topology))
    assert code == 2 and "cannot read" in output
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("YUI_TOPOLOGY_FILE", raising=False)
    alert = tmp_path / "a.xml"
    alert.write_bytes(cap_tsunami(35.68, 139.69))
    code, output = _ingest(str(alert))
    assert code == 2 and "--topology" in output


def test_a_tsunami_warning_without_a_controller_says_what_would_happen(
    tmp_path: Path, topology: Path, no_trigger: None
) -> None:
    alert = tmp_path / "tsunami.xml"
    alert.write_bytes(cap_tsunami(43.17, 141.32))
    code, output = _ingest(
        str(alert), "--topology", str(topology), "--json", "--now", "2026-11-22T15:00:00+09:00"
    )
    assert code == 0
    decided = json.loads(output)
    assert decided["action"] == "evacuate" and decided["sites"] == ["sakura-ishikari"]
    assert decided["executed"] is False and "WOULD be evacuated" in decided["note"]
    code, text = _ingest(
        str(alert), "--topology", str(topology), "--now", "2026-11-22T15:00:00+09:00"
    )
    assert code == 0 and "sakura-ishikari" in text and "WOULD" in " ".join(text.split())


def test_a_wired_trigger_is_called_unless_dry_run(tmp_path: Path, topology: Path) -> None:
    calls: list[tuple[str, EvacuationRequest]] = []

    class Trigger:
        async def evacuate(self, site: str, reason: EvacuationRequest) -> None:
            calls.append((site, reason))

    alert = tmp_path / "tsunami.xml"
    alert.write_bytes(cap_tsunami(34.69, 135.50, status="Exercise"))
    now = ["--now", "2026-11-22T15:00:00+09:00", "--topology", str(topology), "--json"]
    alerts_cli.wire_trigger(Trigger)
    try:
        code, output = _ingest(str(alert), *now)  # an exercise outside drill mode: nothing
        assert code == 0 and json.loads(output)["action"] == "drill-only" and calls == []
        code, output = _ingest(str(alert), "--drill", "--dry-run", *now)
        assert code == 0 and json.loads(output)["executed"] is False and calls == []
        code, output = _ingest(str(alert), "--drill", *now)
        decided = json.loads(output)
        assert code == 0 and decided["executed"] is True
        assert decided["results"] == [{"site": "gcp-osaka", "error": None}]
        assert [(site, reason.drill) for site, reason in calls] == [("gcp-osaka", True)]
    finally:
        alerts_cli.wire_trigger(None)


def test_a_failing_trigger_exits_non_zero(tmp_path: Path, topology: Path) -> None:
    class Broken:
        async def evacuate(self, site: str, reason: EvacuationRequest) -> None:
            raise RuntimeError("no quorum")

    alert = tmp_path / "tsunami.xml"
    alert.write_bytes(cap_tsunami(35.68, 139.69))
    alerts_cli.wire_trigger(Broken)
    try:
        code, output = _ingest(
            str(alert), "--topology", str(topology), "--now", "2026-11-22T15:00:00+09:00"
        )
    finally:
        alerts_cli.wire_trigger(None)
    assert code == 1 and "no quorum" in output


def test_the_cli_keeps_the_alert_for_the_console_as_the_http_intake_does(
    tmp_path: Path, topology: Path, db: Database, no_trigger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The site's database is here (YUI_DATABASE_URL): the console's alerts page lists the
    # alerts the site received, by its endpoint or by this command, each decided once.
    sent = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    alert = cap_tsunami(SITES[0].latitude, SITES[0].longitude, sent=sent)
    site = FastAPI()  # the site node's intake, as assembly.site wires it
    site.include_router(
        build_router(
            AlertIntake(
                SITES,
                EvacuationSettings(),
                TOKEN,
                None,
                database=db,
                primaries=EveryTenant(db),
                site=SITES[0].name,
            )
        )
    )
    with TestClient(site) as client:
        answer = client.post(
            "/alerts/v1/ingest",
            content=alert,
            headers={"Content-Type": "application/xml", "Authorization": f"Bearer {TOKEN}"},
        )
    assert answer.status_code == 200, answer.text
    path = tmp_path / "tsunami.xml"
    path.write_bytes(alert)
    monkeypatch.setenv("YUI_DATABASE_URL", db.url)
    monkeypatch.setenv("YUI_SITE", SITES[0].name)
    monkeypatch.delenv("YUI_ETCD_ENDPOINTS", raising=False)
    code, output = _ingest(str(path), "--topology", str(topology), "--json")
    assert code == 0, output
    assert json.loads(output) == answer.json()  # decided the same way

    by_cli, by_http = received(db)  # newest first
    assert by_cli["action"] == "evacuate" and by_cli["decision"]["sites"] == [SITES[0].name]
    different = {"id", "received_at"}
    assert {k: v for k, v in by_cli.items() if k not in different} == {
        k: v for k, v in by_http.items() if k not in different
    }
    assert by_cli["received_at"] >= by_http["received_at"]


def test_a_dry_run_by_the_cli_is_kept_too_and_without_the_database_nothing_is(
    tmp_path: Path, topology: Path, db: Database, no_trigger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tsunami.xml"
    path.write_bytes(cap_tsunami(SITES[2].latitude, SITES[2].longitude))
    now = ["--now", "2026-11-22T15:00:00+09:00", "--topology", str(topology), "--json"]
    monkeypatch.setenv("YUI_SITE", SITES[2].name)
    monkeypatch.delenv("YUI_ETCD_ENDPOINTS", raising=False)
    monkeypatch.delenv("YUI_DATABASE_URL", raising=False)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))  # no site database there
    code, output = _ingest(str(path), *now)
    assert code == 0, output
    assert not (tmp_path / SITES[2].name / "yui.db").exists()  # none created
    assert count_received(db) == 0

    monkeypatch.setenv("YUI_DATABASE_URL", db.url)
    code, output = _ingest(str(path), "--dry-run", *now)
    assert code == 0 and json.loads(output)["executed"] is False, output
    [row] = received(db)
    assert (row["site"], row["action"], row["dry_run"], row["executed"]) == (
        SITES[2].name,
        "evacuate",
        True,
        False,
    )
