"""Japanese CAP 1.2 alerts for the campaign tests: JMA's area codes as geocodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

QUAKE_AREA = "地震情報／細分区域"
PREFECTURE = "地震情報／都道府県等"
TSUNAMI_AREA = "津波予報区"
SENDER = "jma@example.jp"


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def cap_alert(
    identifier: str,
    *,
    event: str = "地震情報",
    headline: str = "震度5強 宮城県中部",
    status: str = "Actual",
    msg_type: str = "Alert",
    severity: str = "Severe",
    certainty: str = "Observed",
    codes: tuple[tuple[str, str], ...] = ((QUAKE_AREA, "222"), (PREFECTURE, "04")),
    area: str = "宮城県中部",
    sent: datetime | None = None,
    references: str = "",
) -> bytes:
    """A CAP 1.2 alert (ja) whose one area carries JMA codes as geocodes."""
    when = (sent or minutes_ago(1)).isoformat(timespec="seconds")
    geocodes = "".join(
        f"<geocode><valueName>{name}</valueName><value>{value}</value></geocode>"
        for name, value in codes
    )
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{SENDER}</sender>
  <sent>{when}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>ja-JP</language>
    <category>Geo</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>{severity}</severity>
    <certainty>{certainty}</certainty>
    <headline>{headline}</headline>
    <area><areaDesc>{area}</areaDesc>{geocodes}</area>
  </info>
</alert>
""".encode()


def reference_to(identifier: str, sent: datetime) -> str:
    return f"{SENDER},{identifier},{sent.isoformat(timespec='seconds')}"
