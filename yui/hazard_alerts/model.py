"""One alert model for CAP 1.2/1.1 and JMA disaster XML, and the `covers()` test.

Pure kernel code: no framework, no I/O. See docs/alerts.md for the mapping
tables and the stance on approximate JMA areas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "INTENSITIES",
    "Alert",
    "AlertError",
    "AlertKind",
    "AlertSource",
    "Area",
    "Box",
    "Certainty",
    "Hypocenter",
    "MsgType",
    "Severity",
    "Status",
    "Urgency",
    "approximate_box",
    "area_covers",
    "covers",
    "intensity_rank",
]


class AlertError(ValueError):
    """An alert document that Yui refuses, with the reason in Japanese then English."""

    def __init__(self, reason_ja: str, reason_en: str) -> None:
        self.reason_ja = reason_ja
        self.reason_en = reason_en
        super().__init__(
            f"警報XMLを解析できません: {reason_ja} / cannot parse alert XML: {reason_en}"
        )


class AlertSource(StrEnum):
    CAP = "cap"
    JMA = "jma"


class Status(StrEnum):
    """CAP <status>; JMA 通常→Actual, 訓練→Exercise, 試験→Test."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(StrEnum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Severity(StrEnum):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Urgency(StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Certainty(StrEnum):
    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


class AlertKind(StrEnum):
    """What the alert is about, normalized across CAP and JMA (table in docs/alerts.md)."""

    TSUNAMI_MAJOR_WARNING = "tsunami_major_warning"  # 大津波警報
    TSUNAMI_WARNING = "tsunami_warning"  # 津波警報
    TSUNAMI_ADVISORY = "tsunami_advisory"  # 津波注意報
    TSUNAMI_WATCH = "tsunami_watch"  # CAP "watch" (no JMA equivalent)
    TSUNAMI_FORECAST = "tsunami_forecast"  # 津波予報 (若干の海面変動)
    EARTHQUAKE_EARLY_WARNING = "earthquake_early_warning"  # 緊急地震速報
    EARTHQUAKE_INTENSITY = "earthquake_intensity"  # 震度速報, 震源・震度に関する情報
    EARTHQUAKE_HYPOCENTER = "earthquake_hypocenter"  # 震源に関する情報
    EARTHQUAKE = "earthquake"  # a CAP earthquake report
    ERUPTION = "eruption"
    FLOOD = "flood"
    LANDSLIDE = "landslide"
    STORM = "storm"
    FIRE = "fire"
    OTHER = "other"


# JMA seismic intensity scale (震度階級) as JMA XML writes it, weakest first.
INTENSITIES: tuple[str, ...] = ("0", "1", "2", "3", "4", "5-", "5+", "6-", "6+", "7")


def intensity_rank(value: str) -> int:
    """Position of a JMA intensity in INTENSITIES; ValueError for anything else."""
    try:
        return INTENSITIES.index(value)
    except ValueError:
        raise ValueError(f"unknown seismic intensity {value!r}") from None


LatLon = tuple[float, float]
# A box is (south, north, west, east) in degrees.
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Area:
    """One target area. Geometry is WGS 84 (lat, lon); circle radius is in km.

    `codes` holds (scheme, value) pairs: CAP geocode valueName/value, or the JMA
    code type (e.g. "地震情報／細分区域") and code. `kind` and `max_intensity` are
    set per area for JMA telegrams, where one telegram mixes levels.
    """

    name: str
    codes: tuple[tuple[str, str], ...] = ()
    polygons: tuple[tuple[LatLon, ...], ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    kind: AlertKind | None = None
    max_intensity: str | None = None


@dataclass(frozen=True, slots=True)
class Hypocenter:
    """Earthquake source from JMA telegrams; depth_km is None when JMA gives none."""

    name: str
    lat: float | None = None
    lon: float | None = None
    depth_km: float | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, whatever its wire format.

    For CAP, the text fields come from the info block in the preferred language
    (ja, then en, then the first); `areas` is the union over all info blocks,
    because separate blocks may target separate areas.
    """

    source: AlertSource
    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    kind: AlertKind
    event: str
    headline: str | None
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    areas: tuple[Area, ...] = ()
    languages: tuple[str, ...] = ()
    effective: datetime | None = None
    expires: datetime | None = None
    max_intensity: str | None = None
    magnitude: float | None = None
    hypocenter: Hypocenter | None = None
    description: str | None = None
    instruction: str | None = None
    scope: str | None = None
    references: tuple[str, ...] = ()
    incident: str | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Naive datetimes are ambiguous across sites in different zones; refuse them here
        # so no parser can let one through.
        for name in ("sent", "effective", "expires"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise AlertError(f"{name} にタイムゾーンがありません", f"{name} has no time zone")
        if self.max_intensity is not None:
            intensity_rank(self.max_intensity)

    @property
    def is_actual(self) -> bool:
        """Only Actual alerts may act on real tenants; the rest drive drills at most."""
        return self.status is Status.ACTUAL


# --- geometry -------------------------------------------------------------------------

_EARTH_RADIUS_KM = 6371.0088


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _on_segment(lat: float, lon: float, a: LatLon, b: LatLon) -> bool:
    eps = 1e-9
    cross = (b[1] - a[1]) * (lat - a[0]) - (b[0] - a[0]) * (lon - a[1])
    if abs(cross) > eps:
        return False
    return (
        min(a[0], b[0]) - eps <= lat <= max(a[0], b[0]) + eps
        and min(a[1], b[1]) - eps <= lon <= max(a[1], b[1]) + eps
    )


def _in_polygon(lat: float, lon: float, ring: Sequence[LatLon]) -> bool:
    """Even-odd ray casting on plain lat/lon; boundary counts as inside.

    Planar is good enough at municipal scale; polygons crossing the antimeridian
    are not supported (CAP gives no rule for them either).
    """
    inside = False
    n = len(ring)
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        if _on_segment(lat, lon, a, b):
            return True
        if (a[0] > lat) != (b[0] > lat):
            lon_at = a[1] + (lat - a[0]) * (b[1] - a[1]) / (b[0] - a[0])
            if lon < lon_at:
                inside = not inside
    return inside


def _in_box(lat: float, lon: float, box: Box) -> bool:
    south, north, west, east = box
    return south <= lat <= north and west <= lon <= east


# --- approximate areas for JMA (and geometry-less CAP) areas ---------------------------
# JMA telegrams name areas by code only. These boxes are APPROXIMATE bounding boxes drawn
# generously around each area, so they overlap their neighbours: for alerts a false
# "covered" costs a needless check-in, a false "not covered" can cost a life. Replace with
# JMA's GIS shapes (https://www.data.jma.go.jp/developer/gis.html) for exact matching.

# Prefectures in JIS X 0401 order, so the index + 1 is the JMA 都道府県等 code.
# Tokyo and Kagoshima/Okinawa boxes cover the main islands only (see docs/alerts.md).
_PREFECTURE_BOXES: dict[str, Box] = {
    "北海道": (41.35, 45.56, 139.3, 145.9),
    "青森県": (40.2, 41.6, 139.45, 141.7),
    "岩手県": (38.7, 40.5, 140.6, 142.1),
    "宮城県": (37.75, 39.0, 140.25, 141.7),
    "秋田県": (38.85, 40.55, 139.65, 141.0),
    "山形県": (37.7, 39.2, 139.5, 140.7),
    "福島県": (36.8, 37.98, 139.15, 141.05),
    "茨城県": (35.7, 36.95, 139.65, 140.9),
    "栃木県": (36.2, 37.16, 139.3, 140.3),
    "群馬県": (35.98, 37.06, 138.4, 139.7),
    "埼玉県": (35.75, 36.3, 138.7, 139.9),
    "千葉県": (34.9, 36.1, 139.73, 140.88),
    "東京都": (35.5, 35.9, 138.94, 139.92),
    "神奈川県": (35.13, 35.68, 138.9, 139.8),
    "新潟県": (36.73, 38.56, 137.6, 139.9),
    "富山県": (36.27, 36.98, 136.77, 137.77),
    "石川県": (36.06, 37.86, 136.24, 137.37),
    "福井県": (35.34, 36.3, 135.45, 136.83),
    "山梨県": (35.17, 35.97, 138.18, 139.14),
    "長野県": (35.2, 37.03, 137.32, 138.74),
    "岐阜県": (35.13, 36.47, 135.9, 137.66),
    "静岡県": (34.57, 35.65, 137.47, 139.18),
    "愛知県": (34.57, 35.42, 136.67, 137.84),
    "三重県": (33.72, 35.26, 135.85, 136.99),
    "滋賀県": (34.79, 35.7, 135.76, 136.46),
    "京都府": (34.7, 35.78, 134.85, 136.06),
    "大阪府": (34.27, 35.05, 135.09, 135.75),
    "兵庫県": (34.15, 35.67, 134.25, 135.47),
    "奈良県": (33.86, 34.78, 135.54, 136.23),
    "和歌山県": (33.43, 34.39, 135.0, 136.02),
    "鳥取県": (35.05, 35.62, 133.13, 134.52),
    "島根県": (34.3, 36.35, 131.67, 133.4),
    "岡山県": (34.3, 35.36, 133.27, 134.42),
    "広島県": (34.03, 35.11, 132.04, 133.47),
    "山口県": (33.7, 34.8, 130.77, 132.5),
    "徳島県": (33.53, 34.25, 133.66, 134.82),
    "香川県": (34.0, 34.56, 133.45, 134.45),
    "愛媛県": (32.88, 34.3, 132.0, 133.7),
    "高知県": (32.7, 33.88, 132.48, 134.31),
    "福岡県": (33.0, 34.25, 129.9, 131.2),
    "佐賀県": (32.95, 33.62, 129.73, 130.55),
    "長崎県": (32.57, 34.73, 128.6, 130.4),
    "熊本県": (32.09, 33.2, 129.95, 131.33),
    "大分県": (32.71, 33.74, 130.82, 132.09),
    "宮崎県": (31.35, 32.84, 130.7, 131.89),
    "鹿児島県": (27.0, 32.3, 128.4, 131.2),
    "沖縄県": (24.0, 27.9, 122.9, 131.35),
}

# Sub-prefecture areas that appear in the JMA fixtures.
_JMA_AREA_BOXES: dict[str, Box] = {
    # 地震情報／細分区域
    "宮城県南部": (37.75, 38.3, 140.25, 141.0),
    "宮城県中部": (38.1, 38.75, 140.5, 141.6),
    "福島県中通り": (36.8, 37.98, 139.95, 140.75),
    "福島県浜通り": (36.8, 37.9, 140.6, 141.05),
    # 津波予報区 (coastal strips and island groups)
    "千葉県内房": (34.9, 35.6, 139.73, 140.1),
    "東京湾内湾": (35.3, 35.72, 139.6, 140.15),
    "伊豆諸島": (32.4, 34.8, 139.0, 140.0),
    "小笠原諸島": (24.0, 27.8, 140.8, 142.4),
    "伊豆・小笠原諸島": (24.0, 34.8, 139.0, 142.4),
    "相模湾・三浦半島": (35.05, 35.35, 139.1, 139.75),
}

_SCHEME_QUAKE_AREA = "地震情報／細分区域"
_SCHEME_PREF = "地震情報／都道府県等"
_SCHEME_TSUNAMI = "津波予報区"

_JMA_CODE_NAMES: dict[tuple[str, str], str] = {
    (_SCHEME_QUAKE_AREA, "221"): "宮城県南部",
    (_SCHEME_QUAKE_AREA, "222"): "宮城県中部",
    (_SCHEME_QUAKE_AREA, "250"): "福島県中通り",
    (_SCHEME_QUAKE_AREA, "251"): "福島県浜通り",
    (_SCHEME_TSUNAMI, "311"): "千葉県内房",
    (_SCHEME_TSUNAMI, "312"): "東京湾内湾",
    (_SCHEME_TSUNAMI, "320"): "伊豆諸島",
    (_SCHEME_TSUNAMI, "321"): "小笠原諸島",
    (_SCHEME_TSUNAMI, "330"): "相模湾・三浦半島",
    (_SCHEME_TSUNAMI, "380"): "静岡県",
    (_SCHEME_TSUNAMI, "492"): "伊豆・小笠原諸島",
    **{(_SCHEME_PREF, f"{i + 1:02d}"): name for i, name in enumerate(_PREFECTURE_BOXES)},
}


def _short_prefecture(name: str) -> str:
    # EEW telegrams say "宮城", "東京", "北海道" (府県予報区 names without the suffix).
    return name if name == "北海道" else name[:-1]


_PREFECTURE_SHORT: dict[str, str] = {_short_prefecture(n): n for n in _PREFECTURE_BOXES}


def _box_for_name(name: str) -> Box | None:
    name = name.strip()
    if name in _JMA_AREA_BOXES:
        return _JMA_AREA_BOXES[name]
    if name in _PREFECTURE_BOXES:
        return _PREFECTURE_BOXES[name]
    if name in _PREFECTURE_SHORT:
        return _PREFECTURE_BOXES[_PREFECTURE_SHORT[name]]
    # "宮城県北部", "東京都２３区": fall back to the whole prefecture, generously.
    for pref, box in _PREFECTURE_BOXES.items():
        if name.startswith(pref):
            return box
    return None


def approximate_box(area: Area) -> Box | None:
    """An approximate (south, north, west, east) box for an area without geometry.

    Known codes win over the name; unknown areas give None (so `covers` says False).
    """
    for scheme, code in area.codes:
        known = _JMA_CODE_NAMES.get((scheme, code))
        if known is not None and (box := _box_for_name(known)) is not None:
            return box
    return _box_for_name(area.name)


def _check_point(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"not a WGS 84 point: ({lat}, {lon})")


def area_covers(area: Area, lat: float, lon: float) -> bool:
    """True if (lat, lon) lies in the area's polygons or circles, or, only when the area
    carries no geometry, in its approximate box."""
    _check_point(lat, lon)
    if area.polygons or area.circles:
        return any(_in_polygon(lat, lon, ring) for ring in area.polygons) or any(
            _distance_km(lat, lon, c_lat, c_lon) <= radius for c_lat, c_lon, radius in area.circles
        )
    box = approximate_box(area)
    return box is not None and _in_box(lat, lon, box)


def covers(alert: Alert, lat: float, lon: float) -> bool:
    """True if any of the alert's areas covers the point (lat, lon), WGS 84 degrees."""
    _check_point(lat, lon)
    return any(area_covers(area, lat, lon) for area in alert.areas)
