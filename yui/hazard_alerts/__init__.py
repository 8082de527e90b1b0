"""Alert intake: CAP 1.2/1.1 and JMA disaster XML (気象庁防災情報XML) into one model.

A pure kernel package (no framework, no I/O): `parse_alert(bytes)` gives an `Alert`
or raises `AlertError`; `covers(alert, lat, lon)` says whether a point is in its area.
See docs/alerts.md.
"""

from yui.hazard_alerts.model import (
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
    approximate_box,
    area_covers,
    covers,
)
from yui.hazard_alerts.parse import MAX_ALERT_BYTES, parse_alert

__all__ = [
    "MAX_ALERT_BYTES",
    "Alert",
    "AlertError",
    "AlertKind",
    "AlertSource",
    "Area",
    "Certainty",
    "Hypocenter",
    "MsgType",
    "Severity",
    "Status",
    "Urgency",
    "approximate_box",
    "area_covers",
    "covers",
    "parse_alert",
]
