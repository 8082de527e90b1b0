"""Which alerts open a campaign for one municipality: its rules, their defaults, the match.

Pure (no I/O, the clock is a parameter). An alert qualifies when, in an area whose codes
(JMA's 地震情報／細分区域, 都道府県等 and 津波予報区 codes, or CAP geocode values) are the
municipality's own:

- an observed seismic intensity (震度速報, 震源・震度に関する情報) reaches
  ``min_intensity`` (default 5弱). A CAP earthquake report states no intensity: it counts
  when it is ``Observed`` and its severity is at least the one docs/alerts.md gives that
  intensity (5弱・5強 Severe, 6弱 or more Extreme). An early warning is a forecast, not an
  observation, and opens nothing;
- a tsunami warning or major warning (advisories too when ``tsunami_advisories``) is out
  for its coast;
- an eruption warning is out for its area.

``Actual`` alerts open live campaigns; ``Exercise`` alerts open drill campaigns (when
``drills_from_exercises``); ``Test``, ``System`` and ``Draft`` never open one. An Actual
alert past its ``expires`` or sent more than ``MAX_AGE`` ago is stale and opens nothing
(an exercise is not checked: recorded telegrams are replayed in drills).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from safety_check.campaigns.models import AlertRules, Hazard
from yui.hazard_alerts import Alert, AlertKind, Certainty, MsgType, Severity, Status
from yui.hazard_alerts.model import INTENSITIES, intensity_rank

#: an Actual alert sent longer ago than this opens nothing (a late delivery of an old one)
MAX_AGE = timedelta(hours=24)
DEFAULT_MIN_INTENSITY = "5-"
DEFAULT_HOLD_MINUTES = 10
DEFAULT_SERIES_HOURS = 6

QUAKE_KINDS = frozenset({AlertKind.EARTHQUAKE_INTENSITY, AlertKind.EARTHQUAKE})
TSUNAMI_WARNINGS = frozenset({AlertKind.TSUNAMI_MAJOR_WARNING, AlertKind.TSUNAMI_WARNING})

#: JMA's way of writing an intensity, and how people say it
INTENSITY_NAMES = {"5-": "5弱", "5+": "5強", "6-": "6弱", "6+": "6強"}
INTENSITY_ALIASES = {name: code for code, name in INTENSITY_NAMES.items()}


#: the severity JMA's intensities map to (docs/alerts.md), weakest first
SEVERITY_ORDER = (
    Severity.UNKNOWN,
    Severity.MINOR,
    Severity.MODERATE,
    Severity.SEVERE,
    Severity.EXTREME,
)


def severity_of_intensity(code: str) -> Severity:
    rank = intensity_rank(code)
    if rank >= intensity_rank("6-"):
        return Severity.EXTREME
    if rank >= intensity_rank("5-"):
        return Severity.SEVERE
    return Severity.MODERATE if rank == intensity_rank("4") else Severity.MINOR


def _observed_as_strong(alert: Alert, min_intensity: str) -> bool:
    """A quake report without intensities (CAP): observed, and as severe as the threshold."""
    needed = SEVERITY_ORDER.index(severity_of_intensity(min_intensity))
    return alert.certainty is Certainty.OBSERVED and SEVERITY_ORDER.index(alert.severity) >= needed


def intensity_name(code: str) -> str:
    return INTENSITY_NAMES.get(code, code)


def intensity_code(given: str) -> str:
    """ "5弱" or "5-" → "5-"; ValueError for anything that is not an intensity."""
    code = INTENSITY_ALIASES.get(given.strip(), given.strip())
    if code not in INTENSITIES:
        known = ", ".join(intensity_name(value) for value in INTENSITIES)
        raise ValueError(f"震度は {known} のいずれか / an intensity is one of {known}")
    return code


@dataclass(frozen=True)
class Rules:
    enabled: bool
    quake_area_codes: tuple[str, ...]
    min_intensity: str
    tsunami_area_codes: tuple[str, ...]
    tsunami_advisories: bool
    eruption_area_codes: tuple[str, ...]
    hold_minutes: int
    series_hours: int
    drills_from_exercises: bool
    #: False: no row stored, these are the defaults
    customised: bool = False

    @property
    def hold(self) -> timedelta:
        return timedelta(minutes=self.hold_minutes)

    @property
    def series_window(self) -> timedelta:
        return timedelta(hours=self.series_hours)


def default_rules(tenant: str) -> Rules:
    """Until the admin names the municipality's own areas, a quake of 5弱 or more anywhere
    in its prefecture (JMA's 都道府県等 code, the first two digits of the tenant's code)
    opens a held campaign: a needless check is cancelled in the hold, a missed one is not
    noticed. Tsunami and eruption areas cannot be guessed: none until the admin sets them."""
    return Rules(
        enabled=True,
        quake_area_codes=(tenant[:2],),
        min_intensity=DEFAULT_MIN_INTENSITY,
        tsunami_area_codes=(),
        tsunami_advisories=False,
        eruption_area_codes=(),
        hold_minutes=DEFAULT_HOLD_MINUTES,
        series_hours=DEFAULT_SERIES_HOURS,
        drills_from_exercises=True,
    )


def rules_from_row(row: AlertRules) -> Rules:
    return Rules(
        enabled=row.enabled,
        quake_area_codes=tuple(row.quake_area_codes),
        min_intensity=row.min_intensity,
        tsunami_area_codes=tuple(row.tsunami_area_codes),
        tsunami_advisories=row.tsunami_advisories,
        eruption_area_codes=tuple(row.eruption_area_codes),
        hold_minutes=row.hold_minutes,
        series_hours=row.series_hours,
        drills_from_exercises=row.drills_from_exercises,
        customised=True,
    )


@dataclass(frozen=True)
class Match:
    """What of an alert concerns the municipality."""

    hazard: Hazard
    kind: AlertKind
    drill: bool
    #: the municipality's codes the alert named, and those areas' names
    area_codes: tuple[str, ...]
    area_names: tuple[str, ...]
    #: the strongest intensity among those areas (earthquakes)
    max_intensity: str | None


def campaign_kind_of(alert: Alert, rules: Rules) -> bool | None:
    """True: a drill, False: live, None: this status opens nothing."""
    if alert.status is Status.ACTUAL:
        return False
    if alert.status is Status.EXERCISE and rules.drills_from_exercises:
        return True
    return None


def stale(alert: Alert, now: datetime) -> bool:
    if alert.status is not Status.ACTUAL:
        return False
    if alert.expires is not None and alert.sent <= alert.expires <= now:
        return True
    return now - alert.sent > MAX_AGE


def match(alert: Alert, rules: Rules, *, now: datetime) -> Match | None:
    """The part of ``alert`` that opens a campaign under ``rules``, or None."""
    drill = campaign_kind_of(alert, rules)
    if not rules.enabled or drill is None or stale(alert, now):
        return None
    if alert.msg_type not in (MsgType.ALERT, MsgType.UPDATE):
        return None
    tsunami_kinds = TSUNAMI_WARNINGS | (
        {AlertKind.TSUNAMI_ADVISORY} if rules.tsunami_advisories else set()
    )
    found: dict[Hazard, list[tuple[str, set[str], AlertKind, str | None]]] = {}
    for area in alert.areas:
        kind = area.kind or alert.kind
        values = {value for _scheme, value in area.codes}
        intensity = area.max_intensity or alert.max_intensity
        if kind in QUAKE_KINDS:
            hit = values & set(rules.quake_area_codes)
            if not hit:
                continue
            if intensity is None:
                if not _observed_as_strong(alert, rules.min_intensity):
                    continue
            elif intensity_rank(intensity) < intensity_rank(rules.min_intensity):
                continue
            found.setdefault(Hazard.EARTHQUAKE, []).append((area.name, hit, kind, intensity))
        elif kind in tsunami_kinds:
            hit = values & set(rules.tsunami_area_codes)
            if hit:
                found.setdefault(Hazard.TSUNAMI, []).append((area.name, hit, kind, None))
        elif kind is AlertKind.ERUPTION:
            hit = values & set(rules.eruption_area_codes)
            if hit:
                found.setdefault(Hazard.ERUPTION, []).append((area.name, hit, kind, None))
    if not found:
        return None
    # one alert is about one hazard; should one ever mix them, the first found leads
    hazard, areas = next(iter(found.items()))
    intensities = [value for *_rest, value in areas if value is not None]
    return Match(
        hazard=hazard,
        kind=_strongest_kind([kind for _name, _codes, kind, _value in areas]),
        drill=drill,
        area_codes=tuple(sorted({code for _name, codes, _kind, _value in areas for code in codes})),
        area_names=tuple(dict.fromkeys(name for name, *_rest in areas)),
        max_intensity=max(intensities, key=intensity_rank) if intensities else None,
    )


def _strongest_kind(kinds: list[AlertKind]) -> AlertKind:
    order = (AlertKind.TSUNAMI_MAJOR_WARNING, AlertKind.TSUNAMI_WARNING)
    for kind in order:
        if kind in kinds:
            return kind
    return kinds[0]
