"""The evacuation decision: given one alert and the sites, which sites must be evacuated.

Rules, in order (docs/runbook.md states them for operators):

1. status: ``Actual`` acts; ``Exercise`` and ``Test`` (訓練, 試験) act only in drill mode,
   otherwise the decision is "drill-only" (it names the sites a drill would evacuate and
   does nothing); ``System`` and ``Draft`` never act.
2. message type: ``Alert`` and ``Update`` act (an update re-states what holds now; an
   evacuation is idempotent); ``Cancel`` never evacuates and never undoes one either
   (failing back is an operator's decision); ``Ack`` and ``Error`` do nothing.
3. time (Actual alerts, and every alert outside drill mode): past ``expires`` or older than
   ``max_age_hours`` is stale. An ``expires`` before ``sent`` contradicts itself and is not
   trusted (the alert is treated as unexpiring: a missed warning is the worse error).
4. certainty: ``ignored_certainties`` (default Unlikely) never act.
5. per site: every area that covers the site's coordinates is judged at its own level —
   JMA telegrams give each area its own kind and intensity, so a site under a tsunami
   *advisory* is not evacuated because another coast is under a *warning*. A site is
   selected when one covering area is of a configured kind, or of a configured earthquake
   kind at or above the intensity threshold (or, without an intensity, at or above the
   severity threshold).

Pure: the clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from failover.alerts.settings import EvacuationSettings, severity_rank
from yui.hazard_alerts import Alert, AlertKind, Area, MsgType, Status, area_covers
from yui.hazard_alerts.model import intensity_rank
from yui.topology import SiteSpec

__all__ = ["Action", "EvacuationDecision", "Reason", "SiteDecision", "decide"]

#: evacuate: act for real · drill: act, as a drill · drill-only: an exercise outside
#: drill mode (names the sites, does nothing) · none: nothing to do
Action = Literal["evacuate", "drill", "drill-only", "none"]


@dataclass(frozen=True)
class Reason:
    """One reason, with a stable code for machines and a sentence for people."""

    code: str
    ja: str
    en: str

    def text(self) -> str:
        return f"{self.ja} / {self.en}"

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "ja": self.ja, "en": self.en}


@dataclass(frozen=True)
class SiteDecision:
    site: str
    latitude: float
    longitude: float
    selected: bool
    #: names of the areas that cover the site (whether or not they qualify)
    covering_areas: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "selected": self.selected,
            "covering_areas": list(self.covering_areas),
            "reasons": [r.to_json() for r in self.reasons],
        }


@dataclass(frozen=True)
class EvacuationDecision:
    alert_identifier: str
    sender: str
    status: Status
    msg_type: MsgType
    kind: AlertKind
    drill_mode: bool
    action: Action
    #: the sites to evacuate (for "drill-only": the sites a drill would evacuate)
    sites: tuple[str, ...]
    reasons: tuple[Reason, ...]
    per_site: tuple[SiteDecision, ...] = field(default=())

    @property
    def acts(self) -> bool:
        """True when the trigger must be called (for real, or as a drill)."""
        return self.action in ("evacuate", "drill") and bool(self.sites)

    def summary(self) -> str:
        sites = ", ".join(self.sites) or "-"
        return {
            "evacuate": f"退避します / evacuate: {sites}",
            "drill": f"訓練として退避します / evacuate as a drill: {sites}",
            "drill-only": f"訓練モードでのみ退避対象 / would evacuate in drill mode only: {sites}",
            "none": "退避しません / no evacuation",
        }[self.action]

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": {
                "identifier": self.alert_identifier,
                "sender": self.sender,
                "status": self.status.value,
                "msg_type": self.msg_type.value,
                "kind": self.kind.value,
            },
            "drill_mode": self.drill_mode,
            "action": self.action,
            "sites": list(self.sites),
            "summary": self.summary(),
            "reasons": [r.to_json() for r in self.reasons],
            "per_site": [s.to_json() for s in self.per_site],
        }


def decide(
    alert: Alert,
    sites: Iterable[SiteSpec],
    settings: EvacuationSettings | None = None,
    *,
    drill: bool = False,
    now: datetime,
) -> EvacuationDecision:
    """Which of ``sites`` the alert evacuates. ``now`` must be timezone-aware."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    config = settings or EvacuationSettings()
    site_list = list(sites)
    exercise = alert.status in (Status.EXERCISE, Status.TEST)
    reasons: list[Reason] = []
    blocked = _alert_level_block(
        alert, config, exercise=exercise, drill=drill, now=now, into=reasons
    )
    per_site = tuple(_judge_site(alert, site, config) for site in site_list)
    selected = tuple(s.site for s in per_site if s.selected)
    action: Action
    if blocked or not selected:
        action = "none"
        if not blocked:
            reasons.append(
                Reason(
                    "no-site-covered",
                    "退避の条件を満たす区域にあるサイトはありません",
                    "no site lies in an area that qualifies for evacuation",
                )
            )
    elif alert.status is Status.ACTUAL:
        action = "evacuate"
        reasons.append(Reason("actual", "実際の警報です", "an Actual alert"))
    elif drill:
        action = "drill"
        reasons.append(
            Reason(
                "drill",
                f"訓練・試験の警報（{alert.status.value}）を訓練モードで実行します",
                f"an {alert.status.value} alert, acted on in drill mode",
            )
        )
    else:
        action = "drill-only"
        reasons.append(
            Reason(
                "drill-only",
                f"訓練・試験の警報（{alert.status.value}）は訓練モード（--drill）でのみ実行します",
                f"an {alert.status.value} alert acts only in drill mode (--drill)",
            )
        )
    return EvacuationDecision(
        alert_identifier=alert.identifier,
        sender=alert.sender,
        status=alert.status,
        msg_type=alert.msg_type,
        kind=alert.kind,
        drill_mode=drill,
        action=action,
        sites=selected if action != "none" else (),
        reasons=tuple(reasons),
        per_site=per_site,
    )


def _alert_level_block(
    alert: Alert,
    config: EvacuationSettings,
    *,
    exercise: bool,
    drill: bool,
    now: datetime,
    into: list[Reason],
) -> bool:
    """Append the reasons that stop the whole alert; True when one does."""
    if alert.status in (Status.SYSTEM, Status.DRAFT):
        into.append(
            Reason(
                "status-ignored",
                f"status={alert.status.value} の警報では退避しません",
                f"status={alert.status.value} alerts never evacuate",
            )
        )
        return True
    if alert.msg_type is MsgType.CANCEL:
        into.append(
            Reason(
                "cancel",
                "取消・解除の電文です。退避は行わず、済んだ退避も自動では戻しません"
                "（確認のうえ yui failover failback）",
                "a Cancel: nothing is evacuated, and evacuations already made are not undone "
                "automatically (review, then yui failover failback)",
            )
        )
        return True
    if alert.msg_type in (MsgType.ACK, MsgType.ERROR):
        into.append(
            Reason(
                "msg-type-ignored",
                f"msgType={alert.msg_type.value} の電文では退避しません",
                f"msgType={alert.msg_type.value} messages never evacuate",
            )
        )
        return True
    if exercise and drill:
        into.append(
            Reason(
                "time-not-checked",
                "訓練モードの訓練電文: 期限・経過時間は確認しません（記録した電文の再生）",
                "an exercise in drill mode: expiry and age are not checked (recorded telegrams replay)",
            )
        )
    elif _stale(alert, config, now, into):
        return True
    if alert.certainty in config.ignored_certainties:
        into.append(
            Reason(
                "certainty-ignored",
                f"確度 {alert.certainty.value} の警報では退避しません",
                f"alerts of certainty {alert.certainty.value} never evacuate",
            )
        )
        return True
    if not alert.areas:
        into.append(Reason("no-area", "対象区域がありません", "the alert names no area"))
        return True
    return False


def _stale(alert: Alert, config: EvacuationSettings, now: datetime, into: list[Reason]) -> bool:
    if config.honour_expiry and alert.expires is not None:
        if alert.expires < alert.sent:
            into.append(
                Reason(
                    "expires-before-sent",
                    "expires が sent より前で矛盾しているため、期限は無視します",
                    "expires is before sent, a contradiction: the expiry is not trusted",
                )
            )
        elif alert.expires <= now:
            into.append(
                Reason(
                    "expired",
                    f"期限切れです（expires {alert.expires.isoformat()}）",
                    f"expired (expires {alert.expires.isoformat()})",
                )
            )
            return True
    if config.max_age_hours > 0 and now - alert.sent > timedelta(hours=config.max_age_hours):
        into.append(
            Reason(
                "stale",
                f"{config.max_age_hours:g} 時間より前の警報です（sent {alert.sent.isoformat()}）",
                f"older than {config.max_age_hours:g} h (sent {alert.sent.isoformat()})",
            )
        )
        return True
    return False


def _judge_site(alert: Alert, site: SiteSpec, config: EvacuationSettings) -> SiteDecision:
    covering = [a for a in alert.areas if area_covers(a, site.latitude, site.longitude)]
    reasons: list[Reason] = []
    selected = False
    if not covering:
        reasons.append(
            Reason(
                "not-covered",
                f"サイト {site.name}（{site.latitude}, {site.longitude}）はどの区域にも含まれません",
                f"site {site.name} ({site.latitude}, {site.longitude}) lies in no target area",
            )
        )
    for area in covering:
        reason = _judge_area(alert, area, site, config)
        selected = selected or reason.code.startswith("qualifies")
        reasons.append(reason)
    return SiteDecision(
        site=site.name,
        latitude=site.latitude,
        longitude=site.longitude,
        selected=selected,
        covering_areas=tuple(a.name for a in covering),
        reasons=tuple(reasons),
    )


def _judge_area(alert: Alert, area: Area, site: SiteSpec, config: EvacuationSettings) -> Reason:
    kind = area.kind or alert.kind
    where = f"区域「{area.name}」がサイト {site.name} を含み"
    where_en = f"area {area.name!r} covers site {site.name}"
    if kind in config.kinds:
        return Reason(
            "qualifies-kind",
            f"{where}、種別 {kind.value} は退避の対象です",
            f"{where_en}, and {kind.value} evacuates",
        )
    if kind in config.earthquake_kinds:
        intensity = area.max_intensity or alert.max_intensity
        if intensity is not None:
            if intensity_rank(intensity) >= intensity_rank(config.min_intensity):
                return Reason(
                    "qualifies-intensity",
                    f"{where}、震度 {intensity} は基準 {config.min_intensity} 以上です",
                    f"{where_en}, intensity {intensity} is at least {config.min_intensity}",
                )
            return Reason(
                "below-intensity",
                f"{where}ますが、震度 {intensity} は基準 {config.min_intensity} 未満です",
                f"{where_en}, but intensity {intensity} is below {config.min_intensity}",
            )
        if severity_rank(alert.severity) >= severity_rank(config.earthquake_min_severity):
            return Reason(
                "qualifies-severity",
                f"{where}、震度の記載はなく深刻度 {alert.severity.value} は基準以上です",
                f"{where_en}; no intensity given, severity {alert.severity.value} is at least "
                f"{config.earthquake_min_severity.value}",
            )
        return Reason(
            "below-severity",
            f"{where}ますが、震度の記載がなく深刻度 {alert.severity.value} は基準未満です",
            f"{where_en}, but no intensity is given and severity {alert.severity.value} is below "
            f"{config.earthquake_min_severity.value}",
        )
    return Reason(
        "kind-not-configured",
        f"{where}ますが、種別 {kind.value} は退避の対象ではありません",
        f"{where_en}, but {kind.value} does not evacuate",
    )
