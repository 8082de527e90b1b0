"""The intake's second consumer: each tenant this site is the primary of is told of the
alert in its own unit of work; a tenant's failure or refusal never stops the others, and
the tenants' side never keeps an alert from evacuation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from failover.alerts import EvacuationSettings
from failover.alerts.announce import announce
from failover.alerts.api import AlertIntake
from tests.failover.alerts.conftest import cap_tsunami
from tests.failover.alerts.test_api import SITES, TOKEN, TOKYO, XML, Recorder, _client
from tests.support.factories import CHIYODA, SENDAI, tenant
from yui.audit import service as audit
from yui.db.database import Database
from yui.db.fencing import NotPrimary
from yui.events import EventBus, HazardAlertReceived
from yui.hazard_alerts import parse_alert

OSAKA = "271004"


def test_each_tenant_in_its_own_unit_of_work_and_one_failure_stops_no_other(
    db: Database,
) -> None:
    for code, name in ((SENDAI, "仙台市"), (CHIYODA, "千代田区"), (OSAKA, "大阪市")):
        tenant(db, code, name)
    seen: list[str] = []

    def handler(event: HazardAlertReceived, session: Session | None) -> None:
        assert session is not None
        seen.append(event.tenant)
        if event.tenant == CHIYODA:
            raise RuntimeError("a handler's bug")
        # a write of the tenant's: its commit asks the write gate (a commit of nothing does not)
        audit.record(
            session, actor="test", action="alert.seen", subject_type="alert", subject_id="1"
        )

    def gate(code: str) -> None:
        if code == OSAKA:
            raise NotPrimary(f"{code} の主系は gcp-osaka です / the primary of {code} is gcp-osaka")

    bus = EventBus()
    bus.subscribe(HazardAlertReceived, handler)
    db.write_gate = gate
    alert = parse_alert(cap_tsunami(35.6, 139.7))
    now = datetime.now(UTC)
    told = announce(alert, db, [OSAKA, SENDAI, CHIYODA], site="aws-tokyo", now=now, bus=bus)
    assert told.told == (SENDAI,)
    assert "RuntimeError: a handler's bug" in told.skipped[CHIYODA]
    assert "gcp-osaka" in told.skipped[OSAKA]
    assert sorted(seen) == sorted([CHIYODA, OSAKA, SENDAI])
    assert told.to_json() == {"told": [SENDAI], "skipped": told.skipped}


def test_the_tenants_side_never_keeps_an_alert_from_evacuation(tmp_path: Path) -> None:
    def unreadable() -> set[str]:
        raise RuntimeError("placements unreadable")

    recorder = Recorder()
    intake = AlertIntake(
        SITES,
        EvacuationSettings(),
        TOKEN,
        lambda: recorder,
        database=Database(f"sqlite:///{tmp_path / 'unused.db'}"),
        primaries=unreadable,
        site=TOKYO.name,
    )
    sent = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    for client in _client(tmp_path, intake):
        answer = client.post(
            "/alerts/v1/ingest",
            content=cap_tsunami(TOKYO.latitude, TOKYO.longitude, sent=sent),
            headers=XML,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["action"] == "evacuate" and answer.json()["tenants"] is None
    assert [site for site, _ in recorder.calls] == [TOKYO.name]
