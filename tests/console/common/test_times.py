"""The console shows times in Japan's time, whatever form the API's UTC time comes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from console.common.times import local_time


def test_an_api_time_is_shown_as_the_clock_in_japan_reads() -> None:
    assert local_time("2026-12-07T14:45:00+00:00") == "2026-12-07 23:45"  # the evening there
    assert local_time("2026-12-07T15:30:00Z") == "2026-12-08 00:30"  # the next day there
    assert local_time(datetime(2026, 12, 7, 3, 5, tzinfo=UTC)) == "2026-12-07 12:05"
    assert local_time(datetime(2026, 12, 7, 12, 5, tzinfo=timezone(timedelta(hours=9)))) == (
        "2026-12-07 12:05"
    )
    assert local_time(None) == "" and local_time("") == ""
