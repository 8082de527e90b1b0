"""The dashboard's drawings, without a browser: the response-rate curve."""

from __future__ import annotations

from console.staff.dashboard import CURVE_HEIGHT, CURVE_WIDTH, curve


def test_the_first_minute_of_a_campaign_is_drawn_as_a_line() -> None:
    """Before, one point made a polyline of one point: an empty chart beside "回答 10.0%"."""
    drawn = curve([{"at": "2026-12-07T15:31:00Z", "reported_rate": 0.1, "confirmed_rate": 0.05}])
    assert drawn is not None
    height = CURVE_HEIGHT * 0.9
    assert drawn.reported.split() == [f"0.0,{height:.1f}", f"{CURVE_WIDTH:.1f},{height:.1f}"]
    assert len(drawn.confirmed.split()) == 2
    assert (drawn.reported_rate, drawn.first, drawn.last) == (0.1, drawn.last, drawn.last)


def test_a_curve_spans_the_chart_from_its_first_point_to_its_last() -> None:
    drawn = curve(
        [
            {"at": f"2026-12-07T15:3{minute}:00Z", "reported_rate": rate, "confirmed_rate": rate}
            for minute, rate in enumerate((0.0, 0.25, 0.5))
        ]
    )
    assert drawn is not None
    assert drawn.reported.split() == [
        f"0.0,{CURVE_HEIGHT:.1f}",
        f"{CURVE_WIDTH / 2:.1f},{CURVE_HEIGHT * 0.75:.1f}",
        f"{CURVE_WIDTH:.1f},{CURVE_HEIGHT / 2:.1f}",
    ]
    assert curve([]) is None
