"""CAP 1.2 (and 1.1) <alert> element → Alert.

Validation follows the OASIS schema (cap12.xsd): element names, order, cardinality,
required elements and enumerations; plus the spec's rules the schema cannot state
(no spaces, commas, '<' or '&' in identifiers; closed polygons of at least four
points). A document that breaks any of them is refused, with every reason named,
because a half-understood alert must never trigger an evacuation or be silently lost.

The element tree must come from `yui.hazard_alerts.parse`, which loads XML safely.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from xml.etree.ElementTree import Element

from yui.hazard_alerts.model import (
    Alert,
    AlertError,
    AlertKind,
    AlertSource,
    Area,
    Certainty,
    MsgType,
    Severity,
    Status,
    Urgency,
)

__all__ = ["CAP11_NS", "CAP12_NS", "CAP_NAMESPACES", "alert_from_cap", "cap_kind"]

CAP12_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11_NS = "urn:oasis:names:tc:emergency:cap:1.1"
CAP_NAMESPACES = frozenset({CAP12_NS, CAP11_NS})
_XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class _Shape:
    """The sequence an element's children must follow (as in cap12.xsd)."""

    order: tuple[str, ...]
    required: tuple[str, ...]
    repeatable: frozenset[str] = field(default_factory=frozenset)


_ALERT = _Shape(
    order=(
        "identifier", "sender", "sent", "status", "msgType", "source", "scope",
        "restriction", "addresses", "code", "note", "references", "incidents", "info",
    ),
    required=("identifier", "sender", "sent", "status", "msgType", "scope"),
    repeatable=frozenset({"code", "info"}),
)  # fmt: skip
_INFO = _Shape(
    order=(
        "language", "category", "event", "responseType", "urgency", "severity",
        "certainty", "audience", "eventCode", "effective", "onset", "expires",
        "senderName", "headline", "description", "instruction", "web", "contact",
        "parameter", "resource", "area",
    ),
    required=("category", "event", "urgency", "severity", "certainty"),
    repeatable=frozenset({"category", "responseType", "eventCode", "parameter", "resource", "area"}),
)  # fmt: skip
_AREA = _Shape(
    order=("areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"),
    required=("areaDesc",),
    repeatable=frozenset({"polygon", "circle", "geocode"}),
)
_RESOURCE_12 = _Shape(
    order=("resourceDesc", "mimeType", "size", "uri", "derefUri", "digest"),
    required=("resourceDesc", "mimeType"),
)
# CAP 1.1 made mimeType optional.
_RESOURCE_11 = _Shape(order=_RESOURCE_12.order, required=("resourceDesc",))
_PAIR = _Shape(order=("valueName", "value"), required=("valueName", "value"))

_SCOPES = frozenset({"Public", "Restricted", "Private"})
_CATEGORIES = frozenset(
    {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
     "Infra", "CBRNE", "Other"}
)  # fmt: skip
_RESPONSE_TYPES_11 = frozenset(
    {"Shelter", "Evacuate", "Prepare", "Execute", "Monitor", "Assess", "None"}
)
_RESPONSE_TYPES_12 = _RESPONSE_TYPES_11 | {"Avoid", "AllClear"}

# cap12.xsd's pattern: seconds, an explicit numeric offset, no fractions and no "Z".
_CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
_OID = re.compile(r"\d+(\.\d+)+")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")


def _values(enum: type[StrEnum]) -> frozenset[str]:
    return frozenset(member.value for member in enum)


class _Problems:
    """Collects every defect so the error names them all, not just the first."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, ja: str, en: str) -> None:
        self.items.append((ja, en))

    def raise_if_any(self) -> None:
        if self.items:
            raise AlertError(
                "CAP が不正です（" + "、".join(ja for ja, _ in self.items) + "）",
                "invalid CAP (" + "; ".join(en for _, en in self.items) + ")",
            )


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


class _Reader:
    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.problems = _Problems()

    def children(
        self, elem: Element, shape: _Shape, where: str, *, allow_signature: bool = False
    ) -> dict[str, list[Element]]:
        found: dict[str, list[Element]] = {}
        last = -1
        signature_seen = False
        for child in elem:
            if not isinstance(child.tag, str):  # comments/PIs, if a builder kept them
                continue
            ns, local = _split(child.tag)
            if ns != self.ns:
                # The schema's only extension point: XML signatures after the last info.
                if allow_signature and ns == _XMLDSIG_NS:
                    signature_seen = True
                    continue
                self.problems.add(
                    f"{where} に未知の要素 {child.tag}", f"unknown element {child.tag} in {where}"
                )
                continue
            if local not in shape.order:
                self.problems.add(
                    f"{where} に未知の要素 {local}", f"unknown element {local} in {where}"
                )
                continue
            index = shape.order.index(local)
            if index < last or signature_seen:
                self.problems.add(
                    f"{where} の要素 {local} の順序が不正",
                    f"element {local} out of order in {where}",
                )
            last = max(last, index)
            found.setdefault(local, []).append(child)
        for name, elems in found.items():
            if len(elems) > 1 and name not in shape.repeatable:
                self.problems.add(
                    f"{where} に {name} が複数あります", f"more than one {name} in {where}"
                )
        for name in shape.required:
            if name not in found:
                self.problems.add(
                    f"{where} に必須要素 {name} がありません",
                    f"missing required element {name} in {where}",
                )
        return found

    def text(self, elem: Element, where: str) -> str:
        if len(elem):
            self.problems.add(f"{where} に子要素は使えません", f"{where} must not contain elements")
        return (elem.text or "").strip()

    def one(self, found: dict[str, list[Element]], name: str, where: str) -> str | None:
        elems = found.get(name)
        return None if not elems else self.text(elems[0], f"{where}/{name}")

    def many(self, found: dict[str, list[Element]], name: str, where: str) -> list[str]:
        return [self.text(e, f"{where}/{name}") for e in found.get(name, [])]

    def enum(self, value: str | None, allowed: frozenset[str], name: str) -> str | None:
        if value is not None and value not in allowed:
            self.problems.add(
                f"{name} の値 {value!r} は不正です（{'/'.join(sorted(allowed))}）",
                f"invalid {name} {value!r} (expected one of {', '.join(sorted(allowed))})",
            )
            return None
        return value

    def time(self, value: str | None, name: str) -> datetime | None:
        if value is None:
            return None
        if _CAP_TIME.fullmatch(value):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        self.problems.add(
            f"{name} の日時 {value!r} は不正です（例 2003-06-17T14:57:00-07:00）",
            f"invalid {name} time {value!r} (expected e.g. 2003-06-17T14:57:00-07:00)",
        )
        return None

    def ident(self, value: str | None, name: str) -> str:
        if value is None:
            return ""
        if not value or _FORBIDDEN_IN_ID.search(value):
            self.problems.add(
                f"{name} {value!r} は空か、空白・カンマ・<・& を含みます",
                f"{name} {value!r} is empty or contains a space, comma, '<' or '&'",
            )
        elif value.lower().startswith("urn:oid:") and not _OID.fullmatch(value[8:]):
            self.problems.add(
                f"{name} の OID {value!r} が不正です", f"{name} has a malformed OID {value!r}"
            )
        return value

    def decimal(self, value: str | None, name: str) -> None:
        if value is not None and not _DECIMAL.fullmatch(value):
            self.problems.add(
                f"{name} {value!r} は数値ではありません", f"{name} {value!r} is not a number"
            )

    def pairs(
        self, found: dict[str, list[Element]], name: str, where: str
    ) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i, elem in enumerate(found.get(name, [])):
            w = f"{where}/{name}[{i}]"
            kids = self.children(elem, _PAIR, w)
            value_name = self.one(kids, "valueName", w)
            value = self.one(kids, "value", w)
            if value_name is not None and value is not None:
                out.append((value_name, value))
        return out

    def _point(self, token: str, where: str) -> tuple[float, float] | None:
        lat_s, sep, lon_s = token.partition(",")
        try:
            lat, lon = float(lat_s), float(lon_s)
        except ValueError:
            lat = lon = math.nan
        if not sep or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            self.problems.add(
                f"{where} の座標 {token!r} が不正です", f"invalid coordinate {token!r} in {where}"
            )
            return None
        return lat, lon

    def polygon(self, value: str, where: str) -> tuple[tuple[float, float], ...] | None:
        points = [self._point(tok, where) for tok in value.split()]
        if any(p is None for p in points):
            return None
        ring = tuple(p for p in points if p is not None)
        if len(ring) < 4 or ring[0] != ring[-1]:
            self.problems.add(
                f"{where} は4点以上の閉じた多角形ではありません",
                f"{where} is not a closed polygon of at least 4 points",
            )
            return None
        return ring

    def circle(self, value: str, where: str) -> tuple[float, float, float] | None:
        parts = value.split()
        centre = self._point(parts[0], where) if len(parts) == 2 else None
        try:
            radius = float(parts[1]) if len(parts) == 2 else math.nan
        except ValueError:
            radius = math.nan
        if centre is None or not (math.isfinite(radius) and radius >= 0):
            self.problems.add(
                f'{where} の円 {value!r} が不正です（"緯度,経度 半径km"）',
                f'invalid circle {value!r} in {where} (expected "lat,lon radius_km")',
            )
            return None
        return centre[0], centre[1], radius


@dataclass
class _Info:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    event_codes: tuple[tuple[str, str], ...]
    parameters: tuple[tuple[str, str], ...]
    effective: datetime | None
    expires: datetime | None
    headline: str | None
    description: str | None
    instruction: str | None
    areas: tuple[Area, ...]


def _read_info(r: _Reader, elem: Element, where: str) -> _Info | None:
    kids = r.children(elem, _INFO, where)
    language = r.one(kids, "language", where) or "en-US"  # schema default
    if not _LANGUAGE.fullmatch(language):
        r.problems.add(
            f"{where}/language {language!r} が不正です", f"invalid language {language!r}"
        )
    categories = [r.enum(c, _CATEGORIES, "category") for c in r.many(kids, "category", where)]
    responses = _RESPONSE_TYPES_12 if r.ns == CAP12_NS else _RESPONSE_TYPES_11
    for rt in r.many(kids, "responseType", where):
        r.enum(rt, responses, "responseType")
    urgency = r.enum(r.one(kids, "urgency", where), _values(Urgency), "urgency")
    severity = r.enum(r.one(kids, "severity", where), _values(Severity), "severity")
    certainty = r.one(kids, "certainty", where)
    if r.ns == CAP11_NS and certainty == "Very Likely":
        certainty = Certainty.LIKELY.value  # CAP 1.1's extra value; 1.2 folds it into Likely
    certainty = r.enum(certainty, _values(Certainty), "certainty")
    effective = r.time(r.one(kids, "effective", where), "effective")
    r.time(r.one(kids, "onset", where), "onset")
    expires = r.time(r.one(kids, "expires", where), "expires")
    event_codes = r.pairs(kids, "eventCode", where)
    parameters = r.pairs(kids, "parameter", where)
    resource_shape = _RESOURCE_12 if r.ns == CAP12_NS else _RESOURCE_11
    for i, res in enumerate(kids.get("resource", [])):
        w = f"{where}/resource[{i}]"
        rk = r.children(res, resource_shape, w)
        for name in ("resourceDesc", "mimeType", "uri", "derefUri", "digest"):
            r.one(rk, name, w)
        size = r.one(rk, "size", w)
        if size is not None and not size.isdigit():
            r.problems.add(f"{w}/size {size!r} が不正です", f"invalid resource size {size!r}")
    areas = tuple(
        a
        for i, ae in enumerate(kids.get("area", []))
        if (a := _read_area(r, ae, f"{where}/area[{i}]")) is not None
    )
    event = r.one(kids, "event", where)
    if None in categories or urgency is None or severity is None or certainty is None:
        return None
    if event is None:
        return None
    return _Info(
        language=language,
        categories=tuple(c for c in categories if c is not None),
        event=event,
        urgency=Urgency(urgency),
        severity=Severity(severity),
        certainty=Certainty(certainty),
        event_codes=tuple(event_codes),
        parameters=tuple(parameters),
        effective=effective,
        expires=expires,
        headline=r.one(kids, "headline", where) or None,
        description=r.one(kids, "description", where) or None,
        instruction=r.one(kids, "instruction", where) or None,
        areas=areas,
    )


def _read_area(r: _Reader, elem: Element, where: str) -> Area | None:
    kids = r.children(elem, _AREA, where)
    desc = r.one(kids, "areaDesc", where)
    polygons = [r.polygon(p, f"{where}/polygon") for p in r.many(kids, "polygon", where)]
    circles = [r.circle(c, f"{where}/circle") for c in r.many(kids, "circle", where)]
    codes = r.pairs(kids, "geocode", where)
    r.decimal(r.one(kids, "altitude", where), f"{where}/altitude")
    r.decimal(r.one(kids, "ceiling", where), f"{where}/ceiling")
    if desc is None:
        return None
    return Area(
        name=" ".join(desc.split()),
        codes=tuple(codes),
        polygons=tuple(p for p in polygons if p is not None),
        circles=tuple(c for c in circles if c is not None),
    )


# --- kind mapping (documented in docs/alerts.md) --------------------------------------

# US SAME/EAS event codes, the one event-code list CAP feeds commonly share.
_SAME_KINDS: dict[str, AlertKind] = {
    "TSW": AlertKind.TSUNAMI_WARNING,
    "TSA": AlertKind.TSUNAMI_WATCH,
    "EQW": AlertKind.EARTHQUAKE,
    "VOW": AlertKind.ERUPTION,
    **dict.fromkeys(("FFW", "FFA", "FFS", "FLW", "FLA", "FLS", "SSW", "SSA"), AlertKind.FLOOD),
    **dict.fromkeys(
        ("SVR", "SVA", "SVS", "TOR", "TOA", "HUW", "HUA", "HLS", "TRW", "TRA", "SQW",
         "HWW", "HWA", "EWW", "BZW", "WSW", "WSA", "DSW", "SMW"),
        AlertKind.STORM,
    ),
    "FRW": AlertKind.FIRE,
}  # fmt: skip

# Checked in this order; the first group with a matching word wins.
_KEYWORDS: tuple[tuple[AlertKind, tuple[str, ...]], ...] = (
    (AlertKind.TSUNAMI_WARNING, ("tsunami", "津波")),  # level refined by _tsunami_level
    (AlertKind.EARTHQUAKE_EARLY_WARNING, ("earthquake early warning", "緊急地震速報")),
    (AlertKind.ERUPTION, ("volcan", "eruption", "噴火", "火山")),
    (AlertKind.EARTHQUAKE, ("earthquake", "quake", "seismic", "地震")),
    (AlertKind.FLOOD, ("flood", "storm surge", "inundation", "洪水", "浸水", "氾濫", "高潮")),
    (AlertKind.LANDSLIDE, ("landslide", "mudslide", "debris flow", "土砂", "がけ崩れ")),
    (AlertKind.FIRE, ("fire", "火災")),
    (
        AlertKind.STORM,
        ("storm", "thunder", "typhoon", "hurricane", "cyclone", "tornado", "wind", "rain",
         "blizzard", "snow", "台風", "暴風", "大雨", "大雪", "雷", "竜巻"),
    ),
)  # fmt: skip

_TSUNAMI_LEVELS: tuple[tuple[AlertKind, tuple[str, ...]], ...] = (
    (AlertKind.TSUNAMI_MAJOR_WARNING, ("major tsunami warning", "大津波警報")),
    (AlertKind.TSUNAMI_WARNING, ("warning", "津波警報")),
    (AlertKind.TSUNAMI_ADVISORY, ("advisory", "注意報")),
    (AlertKind.TSUNAMI_WATCH, ("watch",)),
    (AlertKind.TSUNAMI_FORECAST, ("forecast", "津波予報")),
)


def _tsunami_level(text: str, severity: Severity) -> AlertKind:
    for kind, words in _TSUNAMI_LEVELS:
        if any(w in text for w in words):
            return kind
    # No level stated: err towards the side that protects people.
    if severity in (Severity.EXTREME, Severity.SEVERE):
        return AlertKind.TSUNAMI_WARNING
    return AlertKind.TSUNAMI_ADVISORY


def cap_kind(
    event: str,
    headline: str | None = None,
    event_codes: tuple[tuple[str, str], ...] = (),
    parameters: tuple[tuple[str, str], ...] = (),
    severity: Severity = Severity.UNKNOWN,
) -> AlertKind:
    """Normalize a CAP info block's event to an AlertKind (SAME code, then keywords)."""
    level_text = " ".join([event, headline or "", *(v for _, v in parameters)]).lower()
    for name, value in event_codes:
        kind = _SAME_KINDS.get(value.strip().upper()) if name.strip().upper() == "SAME" else None
        if kind is not None:
            return kind
    for text in (event.lower(), (headline or "").lower()):
        for kind, words in _KEYWORDS:
            if any(w in text for w in words):
                if kind is AlertKind.TSUNAMI_WARNING:
                    return _tsunami_level(level_text, severity)
                return kind
    return AlertKind.OTHER


def _pick_primary(infos: list[_Info]) -> _Info:
    # Yui's staff read Japanese first, then English.
    for prefix in ("ja", "en"):
        for info in infos:
            if info.language.lower().split("-")[0] == prefix:
                return info
    return infos[0]


def _area_key(area: Area) -> object:
    if area.codes or area.polygons or area.circles:
        return (area.codes, area.polygons, area.circles)
    return area.name


def alert_from_cap(root: Element) -> Alert:
    """Validate a CAP <alert> element and build an Alert; AlertError if it is invalid."""
    ns, local = _split(root.tag)
    if ns not in CAP_NAMESPACES or local != "alert":
        raise AlertError(
            f"CAP の alert 要素ではありません: {root.tag}", f"not a CAP alert: {root.tag}"
        )
    r = _Reader(ns)
    kids = r.children(root, _ALERT, "alert", allow_signature=True)
    identifier = r.ident(r.one(kids, "identifier", "alert"), "identifier")
    sender = r.ident(r.one(kids, "sender", "alert"), "sender")
    sent = r.time(r.one(kids, "sent", "alert"), "sent")
    status = r.enum(r.one(kids, "status", "alert"), _values(Status), "status")
    msg_type = r.enum(r.one(kids, "msgType", "alert"), _values(MsgType), "msgType")
    scope = r.enum(r.one(kids, "scope", "alert"), _SCOPES, "scope")
    for name in ("source", "restriction", "addresses", "note"):
        r.one(kids, name, "alert")
    r.many(kids, "code", "alert")
    references = r.one(kids, "references", "alert")
    incidents = r.one(kids, "incidents", "alert")
    infos = [
        info
        for i, elem in enumerate(kids.get("info", []))
        if (info := _read_info(r, elem, f"info[{i}]")) is not None
    ]
    r.problems.raise_if_any()
    # raise_if_any() guarantees these; the asserts narrow the types for mypy.
    assert sent is not None and status is not None and msg_type is not None

    areas: dict[object, Area] = {}
    for info in infos:
        for area in info.areas:
            areas.setdefault(_area_key(area), area)
    languages = tuple(dict.fromkeys(info.language for info in infos))
    primary = _pick_primary(infos) if infos else None
    return Alert(
        source=AlertSource.CAP,
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=Status(status),
        msg_type=MsgType(msg_type),
        kind=(
            cap_kind(
                primary.event,
                primary.headline,
                primary.event_codes,
                primary.parameters,
                primary.severity,
            )
            if primary
            else AlertKind.OTHER
        ),
        event=primary.event if primary else "",
        headline=primary.headline if primary else None,
        severity=primary.severity if primary else Severity.UNKNOWN,
        urgency=primary.urgency if primary else Urgency.UNKNOWN,
        certainty=primary.certainty if primary else Certainty.UNKNOWN,
        areas=tuple(areas.values()),
        languages=languages,
        # CAP: a missing <effective> means "as of <sent>".
        effective=(primary.effective if primary and primary.effective else sent),
        expires=primary.expires if primary else None,
        description=primary.description if primary else None,
        instruction=primary.instruction if primary else None,
        scope=scope,
        references=tuple(references.split()) if references else (),
        incident=incidents or None,
        categories=primary.categories if primary else (),
    )
