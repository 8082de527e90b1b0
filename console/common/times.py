"""Times as the people who use the console read them: in Japan's time.

The APIs answer in UTC (ISO 8601 with the offset); a page shows municipal staff and citizens
the time of their own clocks. The operators' platform pages keep UTC, labelled, like the
sites' logs they are read beside.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

JAPAN = ZoneInfo("Asia/Tokyo")


def local_time(stamp: str | datetime | None) -> str:
    """An API time (UTC, ISO, or an aware datetime) as ``2026-12-07 14:05`` in Japan."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return moment.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M")
