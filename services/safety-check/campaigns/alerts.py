"""Campaigns opened by alerts: the handler of the kernel's `HazardAlertReceived` event.

The alert intake tells each tenant at its primary, in the tenant's unit of work; the
composition root subscribes :func:`on_hazard_alert`. For one tenant and one alert:

1. an alert already recorded for this tenant (the same sender and identifier, delivered
   again or to another site) changes nothing;
2. an Update or Cancel that references an alert of a campaign is attached to that
   campaign as a notice (a Cancel does not cancel it: staff decide, in the hold);
3. an alert that matches the municipality's rules (`rules.match`) and is a further alert
   of the same hazard in the same area within ``series_hours`` of a pending or open
   campaign's alert is attached to that campaign, and staff are told (the series rule);
4. otherwise it opens a campaign, ``pending`` until the end of the false-alarm hold
   (``open`` at once when the hold is 0), a drill for an exercise.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safety_check.campaigns import service
from safety_check.campaigns.models import (
    AlertRules,
    Campaign,
    CampaignAlert,
    CampaignKind,
    CampaignOrigin,
    CampaignState,
    Hazard,
)
from safety_check.campaigns.rules import (
    Match,
    Rules,
    default_rules,
    intensity_name,
    match,
    rules_from_row,
)
from safety_check.campaigns.schemas import AlertRulesIn
from safety_check.campaigns.service import JST
from yui.audit import service as audit
from yui.events import HazardAlertReceived
from yui.hazard_alerts import Alert, AlertKind, MsgType

log = logging.getLogger("yui.safety_check")

#: the namespace of the ids derived from an alert (uuid5): the same alert, the same row
ALERT_IDS = uuid.UUID("6a1c3e52-2b7e-4f0e-9d43-5f0b8f1c2a77")
ACTOR = "system:alerts"

HAZARD_NAMES = {
    Hazard.EARTHQUAKE: ("地震", "earthquake"),
    Hazard.TSUNAMI: ("津波警報", "tsunami warning"),
    Hazard.ERUPTION: ("噴火警報", "eruption warning"),
}
KIND_NAMES = {
    AlertKind.TSUNAMI_MAJOR_WARNING: ("大津波警報", "major tsunami warning"),
    AlertKind.TSUNAMI_WARNING: ("津波警報", "tsunami warning"),
    AlertKind.TSUNAMI_ADVISORY: ("津波注意報", "tsunami advisory"),
}


def derived_id(tenant: str, what: str, sender: str, identifier: str) -> str:
    return str(uuid.uuid5(ALERT_IDS, "\n".join((tenant, what, sender, identifier))))


def stored_rules(session: Session, tenant: str) -> AlertRules | None:
    """The municipality's saved rules; None until its admin first saves them."""
    return session.get(AlertRules, tenant)


def rules_of(session: Session, tenant: str) -> Rules:
    row = stored_rules(session, tenant)
    return rules_from_row(row) if row is not None else default_rules(tenant)


def save_rules(session: Session, tenant: str, body: AlertRulesIn, *, actor: str) -> Rules:
    """Store the municipality's rules (the admin's): later alerts are judged by them."""
    # The tenant's audit head first: two saves at the same moment are taken in turn, like
    # two saves one after the other (the later one decides; both audited). Before, on
    # PostgreSQL, two first saves both found no row and the second failed on its key (500).
    audit.hold(session)
    row = stored_rules(session, tenant)
    if row is None:
        row = AlertRules(tenant_id=tenant)
        session.add(row)
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = service.now(), actor
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="safety.alert_rules",
        subject_type="safety_alert_rules",
        subject_id=tenant,
        detail=body.model_dump(),
    )
    return rules_from_row(row)


def on_hazard_alert(event: HazardAlertReceived, session: Session | None) -> None:
    """Open, join or leave alone a campaign of ``event.tenant`` (see the module's doc)."""
    if session is None:
        raise RuntimeError("HazardAlertReceived is handled in the tenant's unit of work")
    alert, tenant = event.alert, event.tenant
    notice_id = derived_id(tenant, "alert", alert.sender, alert.identifier)
    if session.get(CampaignAlert, notice_id) is not None:
        return  # this alert was handled already, here or at another site
    referenced = _referenced_campaign(session, tenant, alert)
    if referenced is not None and alert.msg_type in (MsgType.UPDATE, MsgType.CANCEL):
        role = "cancel" if alert.msg_type is MsgType.CANCEL else "update"
        _attach(session, event, referenced, notice_id, role, None, _reference_notice(alert))
        return
    rules = rules_of(session, tenant)
    found = match(alert, rules, now=event.received_at)
    if found is None:
        return
    series = _series_campaign(session, alert, found, rules)
    if series is not None:
        notice = _series_notice(alert, found, rules)
        _attach(session, event, series, notice_id, "series", found, notice)
        return
    _open(session, event, rules, found, notice_id)


def _label(found: Match) -> tuple[str, str]:
    ja, en = KIND_NAMES.get(found.kind) or HAZARD_NAMES[found.hazard]
    if found.max_intensity is not None:
        ja += f" 震度{intensity_name(found.max_intensity)}"
        en += f", intensity {found.max_intensity}"
    areas = "・".join(found.area_names)
    return f"{ja} {areas}", f"{en}, {', '.join(found.area_names)}"


def _open(
    session: Session, event: HazardAlertReceived, rules: Rules, found: Match, notice_id: str
) -> None:
    alert, at = event.alert, event.received_at
    ja, en = _label(found)
    held = rules.hold_minutes > 0
    hold_until = at + rules.hold if held else None
    campaign = Campaign(
        id=derived_id(event.tenant, "campaign", alert.sender, alert.identifier),
        title=(("【訓練】" if found.drill else "") + ja)[:100],
        kind=CampaignKind.DRILL if found.drill else CampaignKind.LIVE,
        opened_at=at,
        opened_by=ACTOR,
        state=CampaignState.PENDING if held else CampaignState.OPEN,
        origin=CampaignOrigin.ALERT,
        hazard=found.hazard,
        area_codes=list(found.area_codes),
        alert_sent=alert.sent,
        hold_until=hold_until,
    )
    if hold_until is not None:
        until = hold_until.astimezone(JST).isoformat(timespec="minutes")
        notice = (
            f"警報「{ja}」（{alert.identifier}）により開始しました。誤報に備えて "
            f"{rules.hold_minutes} 分保留し、{until} に開きます（職員は即時送信・取消ができます） / "
            f"opened by the alert '{en}' ({alert.identifier}), held {rules.hold_minutes} min "
            f"against a false alarm: it opens at {until} (staff may send at once or cancel)"
        )
    else:
        notice = (
            f"警報「{ja}」（{alert.identifier}）により開始しました（保留なし） / opened by the "
            f"alert '{en}' ({alert.identifier}), no hold"
        )
    try:
        with session.begin_nested():  # two deliveries racing: the second finds the first
            session.add(campaign)
            session.flush()
            if not held:
                service.release(session, campaign, at=at, by=ACTOR)
            session.add(_notice_row(event, campaign.id, notice_id, "opened", found, notice))
            session.flush()
    except IntegrityError:
        log.info("alert %s: tenant %s: opened already", alert.identifier, event.tenant)
        return
    audit.record(
        session,
        actor=ACTOR,
        action="safety.campaign_open",
        subject_type="safety_campaign",
        subject_id=campaign.id,
        detail={
            "kind": campaign.kind,
            "alert": alert.identifier,
            "hazard": found.hazard.value,
            "areas": list(found.area_codes),
            "hold_until": hold_until.isoformat() if hold_until else None,
            "site": event.site,
        },
    )


def _attach(
    session: Session,
    event: HazardAlertReceived,
    campaign: Campaign,
    notice_id: str,
    role: str,
    found: Match | None,
    notice: str,
) -> None:
    try:
        with session.begin_nested():
            session.add(_notice_row(event, campaign.id, notice_id, role, found, notice))
            session.flush()
    except IntegrityError:
        return
    audit.record(
        session,
        actor=ACTOR,
        action="safety.campaign_alert",
        subject_type="safety_campaign",
        subject_id=campaign.id,
        detail={"alert": event.alert.identifier, "role": role, "site": event.site},
    )


def _notice_row(
    event: HazardAlertReceived,
    campaign_id: str,
    notice_id: str,
    role: str,
    found: Match | None,
    notice: str,
) -> CampaignAlert:
    alert = event.alert
    return CampaignAlert(
        id=notice_id,
        campaign_id=campaign_id,
        role=role,
        sender=alert.sender[:255],
        identifier=alert.identifier[:255],
        sent=alert.sent,
        status=alert.status.value,
        msg_type=alert.msg_type.value,
        kind=alert.kind.value,
        max_intensity=(found.max_intensity or "") if found else "",
        area_codes=list(found.area_codes) if found else [],
        areas="・".join(found.area_names)[:300] if found else "",
        received_at=event.received_at,
        received_site=event.site,
        notice=notice,
    )


def _referenced_campaign(session: Session, tenant: str, alert: Alert) -> Campaign | None:
    """The campaign of an alert this one references (CAP "sender,identifier,sent")."""
    for reference in alert.references:
        parts = reference.split(",")
        if len(parts) < 2:
            continue
        row = session.get(CampaignAlert, derived_id(tenant, "alert", parts[0], parts[1]))
        if row is not None:
            return service.get(session, row.campaign_id)
    return None


def _series_campaign(session: Session, alert: Alert, found: Match, rules: Rules) -> Campaign | None:
    """A pending or open campaign opened by an alert of the same hazard, in the same area,
    sent within the series window of this one (live and drill never mix)."""
    if rules.series_hours <= 0:
        return None
    window = rules.series_window
    candidates = session.execute(
        select(Campaign)
        .where(
            Campaign.origin == CampaignOrigin.ALERT,
            Campaign.hazard == found.hazard,
            Campaign.kind == (CampaignKind.DRILL if found.drill else CampaignKind.LIVE),
            Campaign.state.in_((CampaignState.PENDING, CampaignState.OPEN)),
            Campaign.alert_sent >= alert.sent - window,
            Campaign.alert_sent <= alert.sent + window,
        )
        .order_by(Campaign.opened_at.desc())
    ).scalars()
    for campaign in candidates:
        if set(campaign.area_codes) & set(found.area_codes):
            return campaign
    return None


def _series_notice(alert: Alert, found: Match, rules: Rules) -> str:
    ja, en = _label(found)
    hazard_ja, hazard_en = HAZARD_NAMES[found.hazard]
    sent = alert.sent.astimezone(JST).isoformat(timespec="minutes")
    return (
        f"同じ地域で {rules.series_hours} 時間以内の{hazard_ja}（{ja}、{sent} 発表）: 新しい安否確認は"
        f"開かず、この安否確認に加えました。状況が変わった人への再確認を検討してください / a further "
        f"{hazard_en} in the same area within {rules.series_hours} h ({en}, sent {sent}): no new "
        "campaign, attached to this one; consider asking again those whose situation may have "
        "changed"
    )


def _reference_notice(alert: Alert) -> str:
    sent = alert.sent.astimezone(JST).isoformat(timespec="minutes")
    if alert.msg_type is MsgType.CANCEL:
        return (
            f"発表元が警報を取り消しました（{alert.identifier}、{sent}）。誤報であれば、保留中に"
            f"この安否確認を取り消せます / the issuer cancelled the alert ({alert.identifier}, "
            f"{sent}); if it was a false alarm, staff may cancel this campaign during the hold"
        )
    return (
        f"警報が更新されました（{alert.identifier}、{sent}） / the alert was updated "
        f"({alert.identifier}, {sent})"
    )
