"""`POST /alerts/v1/ingest`: the token, XML only, every negative sample refused without a 500,
the same decision as the CLI, and the trigger called only when the decision acts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assembly.site import alert_intake, create_app
from failover.alerts import EvacuationRequest, EvacuationSettings
from failover.alerts.api import AlertIntake
from tests.failover.alerts.conftest import cap_tsunami, fixtures_dir, sandbox_sites, topology_toml
from yui.db.database import Database
from yui.settings import load_settings

SITES = sandbox_sites()
TOKEN = "alert-intake-" + "t" * 40
XML = {"Content-Type": "application/cap+xml", "Authorization": f"Bearer {TOKEN}"}
TOKYO = SITES[0]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, EvacuationRequest]] = []

    async def evacuate(self, site: str, reason: EvacuationRequest) -> None:
        self.calls.append((site, reason))


def _now_sent(minutes_ago: float = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _client(tmp_path: Path, intake: AlertIntake) -> Iterator[TestClient]:
    settings = load_settings(site="aws-tokyo", data_dir=tmp_path, log_json=False)
    database = Database(f"sqlite:///{tmp_path / 'yui.db'}")
    app = create_app(settings, database, alerts=intake)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    database.dispose()


@pytest.fixture
def client(tmp_path: Path, recorder: Recorder) -> Iterator[TestClient]:
    intake = AlertIntake(SITES, EvacuationSettings(), TOKEN, lambda: recorder)
    yield from _client(tmp_path, intake)


def test_without_the_token_nothing_is_decided_or_done(
    client: TestClient, recorder: Recorder
) -> None:
    body = cap_tsunami(TOKYO.latitude, TOKYO.longitude, sent=_now_sent())
    for headers in (
        {"Content-Type": "application/xml"},
        {"Content-Type": "application/xml", "Authorization": "Bearer wrong-token"},
    ):
        answer = client.post("/alerts/v1/ingest", content=body, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert recorder.calls == []


def test_a_site_with_no_token_configured_refuses_every_alert(
    tmp_path: Path, recorder: Recorder
) -> None:
    intake = AlertIntake(SITES, EvacuationSettings(), None, lambda: recorder)
    for client in _client(tmp_path, intake):
        body = cap_tsunami(TOKYO.latitude, TOKYO.longitude, sent=_now_sent())
        answer = client.post("/alerts/v1/ingest", content=body, headers=XML)
        assert answer.status_code == 403
        assert "YUI_ALERT_INTAKE_TOKEN" in answer.json()["detail"]
    assert recorder.calls == []


def test_a_tsunami_warning_over_a_site_requests_its_evacuation(
    client: TestClient, recorder: Recorder
) -> None:
    body = cap_tsunami(TOKYO.latitude, TOKYO.longitude, sent=_now_sent())
    answer = client.post("/alerts/v1/ingest", content=body, headers=XML)
    assert answer.status_code == 200, answer.text
    decided = answer.json()
    assert decided["action"] == "evacuate" and decided["sites"] == [TOKYO.name]
    assert decided["executed"] is True and decided["results"] == [
        {"site": TOKYO.name, "error": None}
    ]
    assert [site for site, _ in recorder.calls] == [TOKYO.name]
    assert recorder.calls[0][1].drill is False


def test_an_exercise_acts_only_in_drill_mode(client: TestClient, recorder: Recorder) -> None:
    body = cap_tsunami(TOKYO.latitude, TOKYO.longitude, status="Exercise", sent=_now_sent())
    answer = client.post("/alerts/v1/ingest", content=body, headers=XML)
    assert answer.json()["action"] == "drill-only" and recorder.calls == []
    answer = client.post("/alerts/v1/ingest?drill=true", content=body, headers=XML)
    assert answer.json()["action"] == "drill"
    assert [(site, why.drill) for site, why in recorder.calls] == [(TOKYO.name, True)]


def test_dry_run_decides_and_does_nothing(client: TestClient, recorder: Recorder) -> None:
    body = cap_tsunami(TOKYO.latitude, TOKYO.longitude, sent=_now_sent())
    answer = client.post("/alerts/v1/ingest?dry_run=true", content=body, headers=XML)
    assert answer.json()["action"] == "evacuate" and answer.json()["executed"] is False
    assert recorder.calls == []


def test_a_stale_warning_is_ignored(client: TestClient, recorder: Recorder) -> None:
    body = cap_tsunami(TOKYO.latitude, TOKYO.longitude, sent=_now_sent(minutes_ago=60 * 30))
    answer = client.post("/alerts/v1/ingest", content=body, headers=XML)
    assert answer.status_code == 200 and answer.json()["action"] == "none"
    assert recorder.calls == []


def test_every_negative_sample_is_a_clear_422_and_nothing_happens(
    client: TestClient, recorder: Recorder
) -> None:
    negatives = sorted((fixtures_dir() / "cap" / "negative").iterdir())
    assert negatives
    for path in negatives:
        answer = client.post("/alerts/v1/ingest", content=path.read_bytes(), headers=XML)
        assert answer.status_code == 422, (path.name, answer.text)
        problem = answer.json()
        assert problem["detail"].startswith("警報XMLを解析できません"), problem
        assert "cannot parse alert XML" in problem["detail"]
    assert recorder.calls == []


def test_every_sample_gets_the_same_decision_as_the_cli_would(
    client: TestClient, recorder: Recorder
) -> None:
    cap = fixtures_dir() / "cap"
    samples = sorted(p for p in [*cap.iterdir(), *(cap / "jma").iterdir()] if p.is_file())
    for path in samples:
        answer = client.post("/alerts/v1/ingest", content=path.read_bytes(), headers=XML)
        assert answer.status_code == 200, (path.name, answer.text)
        assert answer.json()["per_site"], path.name
    assert recorder.calls == []  # the samples are old or far from the sandbox's sites


def test_not_xml_and_too_large_are_refused(client: TestClient, recorder: Recorder) -> None:
    body = cap_tsunami(TOKYO.latitude, TOKYO.longitude, sent=_now_sent())
    answer = client.post(
        "/alerts/v1/ingest",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 415
    big = body + b"<!--" + b"x" * (1 << 20) + b"-->"
    answer = client.post("/alerts/v1/ingest", content=big, headers=XML)
    assert answer.status_code == 413
    assert recorder.calls == []


def test_the_site_settings_configure_the_endpoint(tmp_path: Path) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(topology_toml(SITES))
    settings = load_settings(
        site="aws-tokyo",
        data_dir=tmp_path,
        topology_file=topology,
        alert_intake_token=TOKEN,
        log_json=False,
    )
    intake = alert_intake(settings)
    assert intake.token == TOKEN and [s.name for s in intake.sites] == [s.name for s in SITES]
    assert intake.trigger is None
