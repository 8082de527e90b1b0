"""Which alerts open a campaign (pure): the shared JMA fixtures and Japanese CAP alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from safety_check.campaigns.models import Hazard
from safety_check.campaigns.rules import default_rules, intensity_code, match
from tests.safety_check.campaigns.cap import TSUNAMI_AREA, cap_alert, minutes_ago
from tests.support.factories import SENDAI
from tests.support.shared_fixtures import shared_fixtures_dir
from yui.hazard_alerts import Alert, parse_alert

JMA = shared_fixtures_dir() / "cap" / "jma"


def _jma(name: str) -> Alert:
    return parse_alert((JMA / name).read_bytes())


def test_observed_intensity_in_the_municipalitys_own_areas() -> None:
    rules = default_rules(SENDAI)  # Miyagi: JMA's prefecture code 04, 5弱 or more
    assert rules.quake_area_codes == ("04",) and rules.min_intensity == "5-"
    assert rules.hold_minutes == 10 and rules.series_hours == 6 and not rules.customised

    # 震度速報: intensity 3 at 宮城県中部 (222) and 福島県浜通り (251)
    quake = _jma("20210217140808_0_VXSE51_010000.xml")
    fresh = quake.sent + timedelta(minutes=1)
    assert match(quake, rules, now=fresh) is None  # 3 is below 5弱
    lowered = replace(rules, min_intensity="3", quake_area_codes=("222",))
    found = match(quake, lowered, now=fresh)
    assert found is not None and found.hazard is Hazard.EARTHQUAKE and not found.drill
    assert found.area_codes == ("222",) and found.area_names == ("宮城県中部",)
    assert found.max_intensity == "3"
    # another municipality's areas: Fukushima's 中通り (250) had no intensity 3 here
    assert match(quake, replace(lowered, quake_area_codes=("250",)), now=fresh) is None
    # a day later the same telegram is stale: a late delivery opens nothing
    assert match(quake, lowered, now=quake.sent + timedelta(hours=25)) is None
    # rules switched off
    assert match(quake, replace(lowered, enabled=False), now=fresh) is None

    # VXSE53 (intensity 1), the early warning test telegram and the hypocentre exercise
    for name in (
        "20210216140226_0_VXSE53_010000.xml",
        "54_01_01_100514_VXSE42.xml",
        "32-35_01_02_100514_VXSE52.xml",
    ):
        alert = _jma(name)
        assert match(alert, lowered, now=alert.sent + timedelta(minutes=1)) is None, name


def test_cap_quakes_by_severity_tsunami_coasts_eruptions_and_exercises() -> None:
    rules = default_rules(SENDAI)
    now = minutes_ago(0)
    severe = parse_alert(cap_alert("q1"))  # CAP states no intensity: Severe ≈ 5弱・5強
    found = match(severe, rules, now=now)
    assert found is not None and found.area_codes == ("04",) and found.max_intensity is None
    assert match(parse_alert(cap_alert("q2", severity="Moderate")), rules, now=now) is None
    assert match(parse_alert(cap_alert("q3", certainty="Likely")), rules, now=now) is None
    assert match(severe, replace(rules, min_intensity="6-"), now=now) is None  # needs Extreme

    # the coast must be named: none by default
    warning = parse_alert(
        cap_alert(
            "t1", event="津波警報", headline="津波警報", codes=((TSUNAMI_AREA, "311"),), area="内房"
        )
    )
    assert match(warning, rules, now=now) is None
    coast = replace(rules, tsunami_area_codes=("311",))
    found = match(warning, coast, now=now)
    assert found is not None and found.hazard is Hazard.TSUNAMI
    # the shared telegram: an advisory for 伊豆諸島 (320) opens one only when asked to
    advisory = _jma("20231009064018_06274659_VTSE41.xml")
    islands = replace(rules, tsunami_area_codes=("320",))
    later = advisory.sent + timedelta(minutes=1)
    assert match(advisory, islands, now=later) is None
    found = match(advisory, replace(islands, tsunami_advisories=True), now=later)
    assert found is not None and found.area_codes == ("320",)
    # the exercise Cancel of an advisory opens nothing
    cancel = _jma("32-39_13_07_191025_VTSE41.xml")
    assert match(cancel, replace(islands, tsunami_advisories=True), now=later) is None

    eruption = parse_alert(
        cap_alert("e1", event="噴火警報", headline="噴火警報（居住地域）", codes=(("火山", "212"),))
    )
    assert match(eruption, rules, now=now) is None
    found = match(eruption, replace(rules, eruption_area_codes=("212",)), now=now)
    assert found is not None and found.hazard is Hazard.ERUPTION

    # an exercise opens a drill (unless the municipality says no); a Test never opens one
    exercise = parse_alert(cap_alert("x1", status="Exercise", sent=minutes_ago(60 * 24 * 30)))
    found = match(exercise, rules, now=now)  # a recorded exercise is not stale
    assert found is not None and found.drill
    assert match(exercise, replace(rules, drills_from_exercises=False), now=now) is None
    for status in ("Test", "System", "Draft"):
        assert match(parse_alert(cap_alert("s", status=status)), rules, now=now) is None


def test_intensities_as_people_write_them() -> None:
    assert intensity_code("5弱") == "5-" and intensity_code("6強") == "6+"
    assert intensity_code("4") == "4"
    for wrong in ("8", "5", "５弱", ""):
        with pytest.raises(ValueError, match="震度"):
            intensity_code(wrong)
