"""JMA disaster XML (気象庁防災情報XML) <Report> element → Alert.

Supported telegrams, recognised by <Control><Title> (the telegram carries no VXSE/VTSE
code itself): earthquake intensity and hypocentre information VXSE51/52/53, earthquake
early warnings VXSE42–45, and tsunami warnings/advisories/forecasts VTSE41. Anything
else is refused rather than half-read. JMA gives no severity, urgency or certainty;
they are derived here (table in docs/alerts.md) so CAP and JMA alerts compare.

The element tree must come from `yui.hazard_alerts.parse`, which loads XML safely.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from yui.hazard_alerts.model import (
    INTENSITIES,
    Alert,
    AlertError,
    AlertKind,
    AlertSource,
    Area,
    Certainty,
    Hypocenter,
    MsgType,
    Severity,
    Status,
    Urgency,
    intensity_rank,
)

__all__ = ["JMA_NS", "TELEGRAM_TYPES", "alert_from_jma"]

JMA_NS = "http://xml.kishou.go.jp/jmaxml1/"
_HEAD_NS = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
_SEIS_NS = "http://xml.kishou.go.jp/jmaxml1/body/seismology1/"
_EB_NS = "http://xml.kishou.go.jp/jmaxml1/elementBasis1/"

# Control/Title → JMA data type code.
TELEGRAM_TYPES: dict[str, str] = {
    "震度速報": "VXSE51",
    "震源に関する情報": "VXSE52",
    "震源・震度に関する情報": "VXSE53",
    "緊急地震速報配信テスト": "VXSE42",
    "緊急地震速報（警報）": "VXSE43",
    "緊急地震速報（予報）": "VXSE44",
    "緊急地震速報（地震動予報）": "VXSE45",
    "津波警報・注意報・予報a": "VTSE41",  # JMA's real title ends in "a"
    "津波警報・注意報・予報": "VTSE41",
}

_STATUS = {"通常": Status.ACTUAL, "訓練": Status.EXERCISE, "試験": Status.TEST}
_INFO_TYPES = {
    "発表": MsgType.ALERT,
    "訂正": MsgType.UPDATE,
    "遅延": MsgType.UPDATE,
    "取消": MsgType.CANCEL,
}

_SCHEME_QUAKE_AREA = "地震情報／細分区域"
_SCHEME_PREF = "地震情報／都道府県等"
_SCHEME_EEW_PREF = "緊急地震速報／府県予報区"
_SCHEME_TSUNAMI = "津波予報区"

# 警報等情報要素／津波警報・注意報・予報: current level by Kind/Code.
_TSUNAMI_LEVELS: dict[str, AlertKind] = {
    "52": AlertKind.TSUNAMI_MAJOR_WARNING,  # 大津波警報
    "53": AlertKind.TSUNAMI_MAJOR_WARNING,  # 大津波警報：発表
    "51": AlertKind.TSUNAMI_WARNING,
    "62": AlertKind.TSUNAMI_ADVISORY,
    "71": AlertKind.TSUNAMI_FORECAST,  # 津波予報（若干の海面変動）
    "72": AlertKind.TSUNAMI_FORECAST,
    "73": AlertKind.TSUNAMI_FORECAST,
}
_TSUNAMI_RANK = (
    AlertKind.TSUNAMI_FORECAST,
    AlertKind.TSUNAMI_ADVISORY,
    AlertKind.TSUNAMI_WARNING,
    AlertKind.TSUNAMI_MAJOR_WARNING,
)
_TSUNAMI_SEVERITY = {
    AlertKind.TSUNAMI_MAJOR_WARNING: Severity.EXTREME,
    AlertKind.TSUNAMI_WARNING: Severity.SEVERE,
    AlertKind.TSUNAMI_ADVISORY: Severity.MODERATE,
    AlertKind.TSUNAMI_FORECAST: Severity.MINOR,
}

# ISO 6709 as JMA writes it: "+37.5+141.6-50000/" (degrees, degrees, metres of altitude).
_COORDINATE = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?/")


def _refuse(ja: str, en: str) -> AlertError:
    return AlertError(f"気象庁XMLが不正です（{ja}）", f"invalid JMA XML ({en})")


def _q(ns: str, path: str) -> str:
    return "/".join(f"{{{ns}}}{step}" for step in path.split("/"))


def _text(parent: Element | None, ns: str, path: str) -> str | None:
    if parent is None:
        return None
    elem = parent.find(_q(ns, path))
    if elem is None:
        return None
    return (elem.text or "").strip()


def _required(parent: Element, ns: str, path: str, where: str) -> str:
    value = _text(parent, ns, path)
    if not value:
        raise _refuse(f"{where} がありません", f"missing {where}")
    return value


def _time(value: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse(
            f"{where} の日時 {value!r} が不正", f"invalid {where} time {value!r}"
        ) from None
    if parsed.utcoffset() is None:
        raise _refuse(f"{where} にタイムゾーンがありません", f"{where} has no time zone")
    return parsed


def _intensity(value: str | None, where: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in INTENSITIES:
        raise _refuse(f"{where} の震度 {value!r} が不正", f"invalid intensity {value!r} in {where}")
    return value


def _max_intensity(values: list[str | None]) -> str | None:
    known = [v for v in values if v is not None]
    return max(known, key=intensity_rank) if known else None


def _intensity_severity(value: str | None) -> Severity:
    if value is None:
        return Severity.UNKNOWN
    rank = intensity_rank(value)
    if rank >= intensity_rank("6-"):
        return Severity.EXTREME
    if rank >= intensity_rank("5-"):
        return Severity.SEVERE
    if rank >= intensity_rank("4"):
        return Severity.MODERATE
    return Severity.MINOR


@dataclass
class _Body:
    kind: AlertKind
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    areas: tuple[Area, ...] = ()
    max_intensity: str | None = None
    cancel: bool = False


def _hypocenter(body: Element | None) -> tuple[Hypocenter | None, float | None]:
    if body is None:
        return None, None
    quake = body.find(_q(_SEIS_NS, "Earthquake"))
    if quake is None:
        return None, None
    magnitude: float | None = None
    mag_elem = quake.find(_q(_EB_NS, "Magnitude"))
    if mag_elem is not None and mag_elem.text:
        try:
            magnitude = float(mag_elem.text)
        except ValueError:
            raise _refuse(
                f"マグニチュード {mag_elem.text!r}", f"magnitude {mag_elem.text!r}"
            ) from None
        if math.isnan(magnitude):  # JMA writes NaN for "M不明"
            magnitude = None
    area = quake.find(_q(_SEIS_NS, "Hypocenter/Area"))
    if area is None:
        return None, magnitude
    name = _text(area, _SEIS_NS, "Name") or ""
    coord = area.find(_q(_EB_NS, "Coordinate"))
    match = _COORDINATE.fullmatch((coord.text or "").strip()) if coord is not None else None
    if match is None:  # "震源要素不明" and the like: a name without a point
        return Hypocenter(name=name), magnitude
    lat, lon, alt = match.groups()
    depth = -float(alt) / 1000 if alt is not None else None
    return Hypocenter(name=name, lat=float(lat), lon=float(lon), depth_km=depth), magnitude


def _observation(body: Element | None, kind: AlertKind) -> _Body:
    """VXSE51/53: observed intensities per 細分区域."""
    obs = body.find(_q(_SEIS_NS, "Intensity/Observation")) if body is not None else None
    if obs is None:
        # VXSE53 for a distant quake, or a cancellation: a hypocentre, no intensities.
        return _Body(
            AlertKind.EARTHQUAKE_HYPOCENTER, Severity.UNKNOWN, Urgency.PAST, Certainty.OBSERVED
        )
    areas: list[Area] = []
    for pref in obs.findall(_q(_SEIS_NS, "Pref")):
        pref_code = _text(pref, _SEIS_NS, "Code") or ""
        for area in pref.findall(_q(_SEIS_NS, "Area")):
            code = _text(area, _SEIS_NS, "Code") or ""
            areas.append(
                Area(
                    name=_text(area, _SEIS_NS, "Name") or "",
                    codes=((_SCHEME_QUAKE_AREA, code), (_SCHEME_PREF, pref_code)),
                    kind=kind,
                    max_intensity=_intensity(_text(area, _SEIS_NS, "MaxInt"), "Area/MaxInt"),
                )
            )
    max_int = _intensity(_text(obs, _SEIS_NS, "MaxInt"), "Observation/MaxInt") or _max_intensity(
        [a.max_intensity for a in areas]
    )
    return _Body(
        kind,
        _intensity_severity(max_int),
        Urgency.PAST,  # observed shaking has already happened
        Certainty.OBSERVED,
        tuple(areas),
        max_int,
    )


def _forecast_from(elem: Element | None) -> str | None:
    # ForecastInt/From is the lower bound JMA headlines use ("震度５弱以上"); To may be "over".
    value = _text(elem, _SEIS_NS, "ForecastInt/From")
    return value if value in INTENSITIES else None


def _early_warning(body: Element | None, code: str) -> _Body:
    """VXSE42–45: forecast intensities per 細分区域."""
    if code == "VXSE42":  # delivery test: no quake at all
        return _Body(
            AlertKind.EARTHQUAKE_EARLY_WARNING,
            Severity.UNKNOWN,
            Urgency.UNKNOWN,
            Certainty.UNKNOWN,
        )
    fc = body.find(_q(_SEIS_NS, "Intensity/Forecast")) if body is not None else None
    areas: list[Area] = []
    for pref in fc.findall(_q(_SEIS_NS, "Pref")) if fc is not None else []:
        pref_code = _text(pref, _SEIS_NS, "Code") or ""
        for area in pref.findall(_q(_SEIS_NS, "Area")):
            areas.append(
                Area(
                    name=_text(area, _SEIS_NS, "Name") or "",
                    codes=(
                        (_SCHEME_QUAKE_AREA, _text(area, _SEIS_NS, "Code") or ""),
                        (_SCHEME_EEW_PREF, pref_code),
                    ),
                    kind=AlertKind.EARTHQUAKE_EARLY_WARNING,
                    max_intensity=_forecast_from(area),
                )
            )
    max_int = _forecast_from(fc) or _max_intensity([a.max_intensity for a in areas])
    warning = code == "VXSE43"  # 警報: strong shaking (震度5弱以上) expected
    severity = _intensity_severity(max_int)
    if warning and severity in (Severity.UNKNOWN, Severity.MINOR, Severity.MODERATE):
        severity = Severity.SEVERE
    return _Body(
        AlertKind.EARTHQUAKE_EARLY_WARNING,
        severity,
        Urgency.IMMEDIATE,
        Certainty.LIKELY if warning else Certainty.POSSIBLE,
        tuple(areas),
        max_int,
    )


def _tsunami(body: Element | None) -> _Body:
    """VTSE41: per 津波予報区, the current level; all-lifted means a cancellation."""
    items = body.findall(_q(_SEIS_NS, "Tsunami/Forecast/Item")) if body is not None else []
    active: list[Area] = []
    lifted: list[Area] = []
    for item in items:
        name = _text(item, _SEIS_NS, "Area/Name") or ""
        codes = ((_SCHEME_TSUNAMI, _text(item, _SEIS_NS, "Area/Code") or ""),)
        level = _TSUNAMI_LEVELS.get(_text(item, _SEIS_NS, "Category/Kind/Code") or "")
        last = _TSUNAMI_LEVELS.get(_text(item, _SEIS_NS, "Category/LastKind/Code") or "")
        if level is not None:
            active.append(Area(name=name, codes=codes, kind=level))
        elif last is not None and last is not AlertKind.TSUNAMI_FORECAST:
            # 解除 (50/60) or 津波なし after a warning: the area is being lifted.
            lifted.append(Area(name=name, codes=codes, kind=last))

    def top(areas: list[Area]) -> AlertKind:
        return max((a.kind for a in areas if a.kind), key=_TSUNAMI_RANK.index)

    warned = [a for a in active if a.kind is not AlertKind.TSUNAMI_FORECAST]
    if warned:
        kind = top(warned)
        # Forecast-only coasts ride along but the alert is about the warned ones.
        return _Body(
            kind, _TSUNAMI_SEVERITY[kind], Urgency.IMMEDIATE, Certainty.LIKELY, tuple(warned)
        )
    if lifted:
        return _Body(
            top(lifted),
            Severity.MINOR,
            Urgency.PAST,
            Certainty.OBSERVED,
            tuple(lifted),
            cancel=True,
        )
    return _Body(
        AlertKind.TSUNAMI_FORECAST,
        Severity.MINOR,
        Urgency.EXPECTED,
        Certainty.LIKELY,
        tuple(active),
    )


def _comments(body: Element | None) -> str | None:
    if body is None:
        return None
    texts: list[str] = []
    direct = _text(body, _SEIS_NS, "Text")
    if direct:
        texts.append(direct)
    comments = body.find(_q(_SEIS_NS, "Comments"))
    if comments is not None:
        for elem in comments.iter():
            local = elem.tag.rpartition("}")[2] if isinstance(elem.tag, str) else ""
            if local in ("Text", "FreeFormComment") and elem.text and elem.text.strip():
                texts.append(elem.text.strip())
    return "\n".join(texts) or None


def alert_from_jma(root: Element) -> Alert:
    """Build an Alert from a JMA <Report>; AlertError for unsupported or broken telegrams."""
    if root.tag != _q(JMA_NS, "Report"):
        raise _refuse(f"Report 要素ではありません: {root.tag}", f"not a JMA Report: {root.tag}")
    control = root.find(_q(JMA_NS, "Control"))
    head = root.find(_q(_HEAD_NS, "Head"))
    if control is None or head is None:
        raise _refuse("Control または Head がありません", "missing Control or Head")
    title = _required(control, JMA_NS, "Title", "Control/Title")
    code = TELEGRAM_TYPES.get(title)
    if code is None:
        raise _refuse(
            f"未対応の電文です: {title}（対応: VXSE42–45, VXSE51–53, VTSE41）",
            f"unsupported telegram {title!r} (supported: VXSE42-45, VXSE51-53, VTSE41)",
        )
    status_text = _required(control, JMA_NS, "Status", "Control/Status")
    status = _STATUS.get(status_text)
    if status is None:
        raise _refuse(
            f"Control/Status {status_text!r} は 通常/訓練/試験 のいずれでもありません",
            f"Control/Status {status_text!r} is not 通常/訓練/試験",
        )
    sent = _time(_required(control, JMA_NS, "DateTime", "Control/DateTime"), "Control/DateTime")
    sender = _text(control, JMA_NS, "PublishingOffice") or "気象庁"
    event = _required(head, _HEAD_NS, "Title", "Head/Title")
    report_time = _time(
        _required(head, _HEAD_NS, "ReportDateTime", "Head/ReportDateTime"), "Head/ReportDateTime"
    )
    valid = _text(head, _HEAD_NS, "ValidDateTime")
    event_id = _required(head, _HEAD_NS, "EventID", "Head/EventID")
    info_type = _required(head, _HEAD_NS, "InfoType", "Head/InfoType")
    msg_type = _INFO_TYPES.get(info_type)
    if msg_type is None:
        raise _refuse(f"Head/InfoType {info_type!r} が不正", f"invalid Head/InfoType {info_type!r}")
    serial = _text(head, _HEAD_NS, "Serial") or ""
    if msg_type is MsgType.ALERT and serial.isdigit() and int(serial) > 1:
        msg_type = MsgType.UPDATE  # a later report in the same event supersedes the earlier
    headline = _text(head, _HEAD_NS, "Headline/Text") or None

    body = root.find(_q(_SEIS_NS, "Body"))
    if code in ("VXSE51", "VXSE53"):
        parsed = _observation(body, AlertKind.EARTHQUAKE_INTENSITY)
    elif code == "VXSE52":
        parsed = _Body(
            AlertKind.EARTHQUAKE_HYPOCENTER, Severity.UNKNOWN, Urgency.PAST, Certainty.OBSERVED
        )
    elif code.startswith("VXSE4"):
        parsed = _early_warning(body, code)
    else:
        parsed = _tsunami(body)
    if parsed.cancel:
        msg_type = MsgType.CANCEL
    hypocenter, magnitude = _hypocenter(body)

    stamp = sent.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Alert(
        source=AlertSource.JMA,
        identifier=f"urn:jma:{code}:{event_id}:{stamp}" + (f":{serial}" if serial else ""),
        sender=sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        kind=parsed.kind,
        event=event,
        headline=headline,
        severity=parsed.severity,
        urgency=parsed.urgency,
        certainty=parsed.certainty,
        areas=parsed.areas,
        languages=("ja",),
        effective=report_time,
        expires=_time(valid, "Head/ValidDateTime") if valid else None,
        max_intensity=parsed.max_intensity,
        magnitude=magnitude,
        hypocenter=hypocenter,
        description=_comments(body),
        scope="Public",
        incident=event_id,
    )
