"""The evacuation decision: kinds, areas, status and message-type rules, the trigger."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from failover.alerts import (
    EvacuationRequest,
    EvacuationSettings,
    EvacuationTrigger,
    carry_out,
    decide,
    requests_for,
)
from tests.failover.alerts.conftest import NOW, cap_tsunami, fixtures_dir, sandbox_sites
from yui.hazard_alerts import (
    Alert,
    AlertKind,
    AlertSource,
    Area,
    Certainty,
    MsgType,
    Severity,
    Status,
    Urgency,
    parse_alert,
)

SITES = sandbox_sites()
COORDS = {s.name: (s.latitude, s.longitude) for s in SITES}


def _alert(
    kind: AlertKind = AlertKind.TSUNAMI_WARNING,
    areas: tuple[Area, ...] = (),
    *,
    status: Status = Status.ACTUAL,
    msg_type: MsgType = MsgType.ALERT,
    severity: Severity = Severity.EXTREME,
    certainty: Certainty = Certainty.OBSERVED,
    max_intensity: str | None = None,
    sent: datetime = NOW - timedelta(minutes=5),
    expires: datetime | None = None,
) -> Alert:
    return Alert(
        source=AlertSource.CAP,
        identifier="test-1",
        sender="test@example.jp",
        sent=sent,
        status=status,
        msg_type=msg_type,
        kind=kind,
        event="test",
        headline=None,
        severity=severity,
        urgency=Urgency.IMMEDIATE,
        certainty=certainty,
        areas=areas,
        max_intensity=max_intensity,
        expires=expires,
    )


def _circle(site: str, name: str = "around", **kwargs: object) -> Area:
    lat, lon = COORDS[site]
    return Area(name=name, circles=((lat, lon, 15.0),), **kwargs)  # type: ignore[arg-type]


def _fixture_files() -> list[Path]:
    cap = fixtures_dir() / "cap"
    return sorted(p for p in [*cap.iterdir(), *(cap / "jma").iterdir()] if p.is_file())


def test_every_sample_goes_through_the_decision_in_both_modes() -> None:
    files = _fixture_files()
    assert len(files) >= 14
    for path in files:
        alert = parse_alert(path.read_bytes())
        for drill in (False, True):
            decision = decide(alert, SITES, drill=drill, now=NOW)
            assert decision.action in ("evacuate", "drill", "drill-only", "none"), path.name
            assert decision.reasons, path.name
            assert len(decision.per_site) == len(SITES)
            assert decision.to_json()["alert"]["identifier"] == alert.identifier
            # None of the samples is over a sandbox site with a qualifying kind.
            assert decision.sites == (), (path.name, decision.sites)


@pytest.mark.parametrize("site", [s.name for s in SITES])
def test_a_tsunami_warning_over_one_site_selects_exactly_that_site(site: str) -> None:
    alert = parse_alert(cap_tsunami(*COORDS[site]))
    decision = decide(alert, SITES, now=NOW)
    assert decision.action == "evacuate" and decision.sites == (site,)
    assert decision.acts
    chosen = next(s for s in decision.per_site if s.site == site)
    assert chosen.reasons[0].code == "qualifies-kind" and "tsunami_warning" in chosen.reasons[0].en
    others = [s for s in decision.per_site if s.site != site]
    assert all(not s.selected and s.reasons[0].code == "not-covered" for s in others)


def test_each_area_is_judged_at_its_own_level() -> None:
    # JMA: a warning for Tokyo Bay and only an advisory for Osaka in one telegram.
    areas = (
        Area(name="東京湾内湾", kind=AlertKind.TSUNAMI_WARNING),
        Area(name="大阪府", kind=AlertKind.TSUNAMI_ADVISORY),
    )
    decision = decide(_alert(AlertKind.TSUNAMI_WARNING, areas), SITES, now=NOW)
    assert decision.sites == ("aws-tokyo",)
    osaka = next(s for s in decision.per_site if s.site == "gcp-osaka")
    assert osaka.covering_areas == ("大阪府",)
    assert osaka.reasons[0].code == "kind-not-configured"


def test_major_earthquake_by_intensity_threshold() -> None:
    def quake(intensity: str) -> Alert:
        area = Area(name="北海道", kind=AlertKind.EARTHQUAKE_INTENSITY, max_intensity=intensity)
        return _alert(AlertKind.EARTHQUAKE_INTENSITY, (area,), max_intensity=intensity)

    assert decide(quake("6-"), SITES, now=NOW).sites == ("sakura-ishikari",)
    assert decide(quake("7"), SITES, now=NOW).sites == ("sakura-ishikari",)
    weak = decide(quake("5+"), SITES, now=NOW)
    assert weak.sites == () and weak.action == "none"
    ishikari = next(s for s in weak.per_site if s.site == "sakura-ishikari")
    assert ishikari.reasons[0].code == "below-intensity"
    lower = EvacuationSettings(min_intensity="5+")
    assert decide(quake("5+"), SITES, lower, now=NOW).sites == ("sakura-ishikari",)


def test_cap_earthquake_without_intensity_uses_severity() -> None:
    area = (_circle("gcp-osaka"),)
    extreme = _alert(AlertKind.EARTHQUAKE, area, severity=Severity.EXTREME)
    severe = _alert(AlertKind.EARTHQUAKE, area, severity=Severity.SEVERE)
    assert decide(extreme, SITES, now=NOW).sites == ("gcp-osaka",)
    assert decide(severe, SITES, now=NOW).sites == ()


def test_eruption_evacuates_and_unconfigured_kinds_do_not() -> None:
    area = (_circle("aws-tokyo"),)
    assert decide(_alert(AlertKind.ERUPTION, area), SITES, now=NOW).sites == ("aws-tokyo",)
    for kind in (AlertKind.TSUNAMI_ADVISORY, AlertKind.FLOOD, AlertKind.OTHER):
        assert decide(_alert(kind, area), SITES, now=NOW).action == "none"


@pytest.mark.parametrize("status", [Status.EXERCISE, Status.TEST])
def test_exercise_and_test_act_only_in_drill_mode(status: Status) -> None:
    alert = _alert(areas=(_circle("aws-tokyo"),), status=status)
    outside = decide(alert, SITES, now=NOW)
    assert outside.action == "drill-only" and outside.sites == ("aws-tokyo",)
    assert not outside.acts and requests_for(outside) == []
    assert any("--drill" in r.en for r in outside.reasons)
    inside = decide(alert, SITES, drill=True, now=NOW)
    assert inside.action == "drill" and inside.acts
    (request,) = requests_for(inside)
    assert request.site == "aws-tokyo" and request.drill


def test_an_actual_alert_acts_for_real_even_in_drill_mode() -> None:
    decision = decide(_alert(areas=(_circle("aws-tokyo"),)), SITES, drill=True, now=NOW)
    assert decision.action == "evacuate"
    assert not requests_for(decision)[0].drill


@pytest.mark.parametrize("status", [Status.SYSTEM, Status.DRAFT])
def test_system_and_draft_never_act(status: Status) -> None:
    decision = decide(
        _alert(areas=(_circle("aws-tokyo"),), status=status), SITES, drill=True, now=NOW
    )
    assert decision.action == "none" and decision.reasons[0].code == "status-ignored"


def test_a_cancel_never_evacuates() -> None:
    for status in (Status.ACTUAL, Status.EXERCISE):
        alert = _alert(areas=(_circle("aws-tokyo"),), status=status, msg_type=MsgType.CANCEL)
        for drill in (False, True):
            decision = decide(alert, SITES, drill=drill, now=NOW)
            assert decision.action == "none" and decision.sites == ()
            assert decision.reasons[0].code == "cancel"
            assert "failback" in decision.reasons[0].en


def test_an_update_that_still_qualifies_evacuates_again() -> None:
    alert = _alert(areas=(_circle("aws-tokyo"),), msg_type=MsgType.UPDATE)
    assert decide(alert, SITES, now=NOW).sites == ("aws-tokyo",)
    for msg_type in (MsgType.ACK, MsgType.ERROR):
        assert (
            decide(dataclasses.replace(alert, msg_type=msg_type), SITES, now=NOW).action == "none"
        )


def test_stale_and_expired_actual_alerts_are_ignored() -> None:
    area = (_circle("aws-tokyo"),)
    expired = _alert(areas=area, expires=NOW - timedelta(minutes=1))
    assert decide(expired, SITES, now=NOW).reasons[0].code == "expired"
    old = _alert(areas=area, sent=NOW - timedelta(hours=25))
    assert decide(old, SITES, now=NOW).reasons[0].code == "stale"
    assert decide(old, SITES, EvacuationSettings(max_age_hours=0), now=NOW).sites == ("aws-tokyo",)
    # expires before sent contradicts itself: not trusted, the warning still acts
    contradictory = _alert(areas=area, expires=NOW - timedelta(hours=1))
    decision = decide(contradictory, SITES, now=NOW)
    assert decision.sites == ("aws-tokyo",)
    assert decision.reasons[0].code == "expires-before-sent"


def test_recorded_exercises_replay_in_drill_mode_whatever_their_age() -> None:
    old = _alert(
        areas=(_circle("gcp-osaka"),), status=Status.EXERCISE, sent=NOW - timedelta(days=400)
    )
    assert decide(old, SITES, now=NOW).action == "none"
    assert decide(old, SITES, drill=True, now=NOW).sites == ("gcp-osaka",)


def test_unlikely_alerts_and_alerts_without_area_do_nothing() -> None:
    unlikely = _alert(areas=(_circle("aws-tokyo"),), certainty=Certainty.UNLIKELY)
    assert decide(unlikely, SITES, now=NOW).reasons[0].code == "certainty-ignored"
    assert decide(_alert(areas=()), SITES, now=NOW).reasons[0].code == "no-area"


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        decide(_alert(), SITES, now=datetime(2026, 1, 1))


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YUI_EVACUATION_MIN_INTENSITY", "5+")
    monkeypatch.setenv("YUI_EVACUATION_KINDS", '["tsunami_major_warning"]')
    settings = EvacuationSettings()
    assert settings.min_intensity == "5+"
    assert settings.kinds == frozenset({AlertKind.TSUNAMI_MAJOR_WARNING})
    monkeypatch.setenv("YUI_EVACUATION_MIN_INTENSITY", "8")
    with pytest.raises(ValidationError, match="min_intensity"):
        EvacuationSettings()


class _Recorder:
    def __init__(self, failing: str | None = None) -> None:
        self.calls: list[tuple[str, EvacuationRequest]] = []
        self.failing = failing

    async def evacuate(self, site: str, reason: EvacuationRequest) -> None:
        self.calls.append((site, reason))
        if site == self.failing:
            raise RuntimeError("controller busy")


def test_carry_out_calls_the_trigger_per_selected_site_and_reports_failures() -> None:
    areas = (_circle("aws-tokyo", "a"), _circle("gcp-osaka", "b"))
    decision = decide(_alert(areas=areas), SITES, now=NOW)
    assert decision.sites == ("aws-tokyo", "gcp-osaka")
    trigger = _Recorder(failing="aws-tokyo")
    assert isinstance(trigger, EvacuationTrigger)
    results = asyncio.run(carry_out(decision, trigger))
    assert [c[0] for c in trigger.calls] == ["aws-tokyo", "gcp-osaka"]
    assert trigger.calls[1][1].alert_identifier == "test-1"
    assert "tsunami_warning" in trigger.calls[1][1].reason_en
    assert [(r.site, r.ok) for r in results] == [("aws-tokyo", False), ("gcp-osaka", True)]
    assert "controller busy" in (results[0].error or "")
    none = decide(_alert(areas=areas, msg_type=MsgType.CANCEL), SITES, now=NOW)
    idle = _Recorder()
    assert asyncio.run(carry_out(none, idle)) == [] and idle.calls == []


def test_decision_uses_utc_or_any_zone_for_now() -> None:
    tokyo = datetime(2026, 11, 22, 15, 0, tzinfo=UTC).astimezone()
    decision = decide(_alert(areas=(_circle("aws-tokyo"),)), SITES, now=tokyo)
    assert decision.sites == ("aws-tokyo",)
