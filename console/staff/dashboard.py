"""The incident dashboard: a campaign's safety status per 町字 and its unconfirmed
residents (needs-assistance first), from safety confirmation's staff views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from console.common.api import least_fresh
from console.common.times import local_time
from console.staff.signin import StaffContext

#: the width of the chart's bars, in the SVG's own units
CHART_WIDTH = 600
UNCONFIRMED_PAGE = 20


@dataclass(frozen=True)
class Bar:
    """One district's row of the chart."""

    label: str
    residents: int
    confirmed: int
    unconfirmed: int
    confirmed_width: float
    unconfirmed_width: float


def bars(districts: list[dict[str, Any]]) -> list[Bar]:
    largest = max((int(d["residents"]) for d in districts), default=0) or 1
    out = []
    for district in districts:
        residents = int(district["residents"])
        unconfirmed = min(int(district["unconfirmed"]), residents)
        confirmed = residents - unconfirmed
        out.append(
            Bar(
                label=str(district["town_name"]) or "—",
                residents=residents,
                confirmed=confirmed,
                unconfirmed=unconfirmed,
                confirmed_width=round(CHART_WIDTH * confirmed / largest, 1),
                unconfirmed_width=round(CHART_WIDTH * unconfirmed / largest, 1),
            )
        )
    return out


#: the response curve's drawing area, in the SVG's own units
CURVE_WIDTH, CURVE_HEIGHT = 600, 160


@dataclass(frozen=True)
class Curve:
    """The response-rate curve: two polylines (reported, confirmed) and the latest rates."""

    reported: str
    confirmed: str
    reported_rate: float
    confirmed_rate: float
    first: str
    last: str


def curve(points: list[dict[str, Any]]) -> Curve | None:
    if not points:
        return None
    if len(points) == 1:
        # a campaign's first minute: one point is no line, so its rate is drawn across
        points = points * 2
    steps = len(points) - 1

    def line(key: str) -> str:
        return " ".join(
            f"{round(CURVE_WIDTH * index / steps, 1)},"
            f"{round(CURVE_HEIGHT * (1 - float(point[key])), 1)}"
            for index, point in enumerate(points)
        )

    return Curve(
        reported=line("reported_rate"),
        confirmed=line("confirmed_rate"),
        reported_rate=float(points[-1]["reported_rate"]),
        confirmed_rate=float(points[-1]["confirmed_rate"]),
        first=local_time(str(points[0]["at"])),
        last=local_time(str(points[-1]["at"])),
    )


async def dashboard_page(staff: StaffContext, campaign_id: str = "", cursor: str = "") -> Response:
    page = staff.page
    listed = await staff.api("GET", "/safety/campaigns")
    if not listed.ok:
        return page.render(
            "staff/dashboard.html",
            served=listed.served,
            section="dashboard",
            error=page.localized(listed.problem),
            campaigns=[],
            campaign=None,
        )
    campaigns: list[dict[str, Any]] = listed.body
    campaign = next((c for c in campaigns if c["id"] == campaign_id), None)
    if campaign is None:
        campaign = next((c for c in campaigns if c["open"]), campaigns[0] if campaigns else None)
    if campaign is None:
        return page.render(
            "staff/dashboard.html",
            served=listed.served,
            section="dashboard",
            error="",
            campaigns=[],
            campaign=None,
        )
    counts = await staff.api("GET", f"/safety/campaigns/{campaign['id']}/districts")
    unconfirmed = await staff.api(
        "GET",
        f"/safety/campaigns/{campaign['id']}/unconfirmed",
        params={"cursor": cursor, "limit": UNCONFIRMED_PAGE},
    )
    # the curve is drawn when safety confirmation serves it; the page stands without it
    rates = await staff.api("GET", f"/safety/campaigns/{campaign['id']}/response-rate")
    error = next((page.localized(a.problem) for a in (counts, unconfirmed) if not a.ok), "")
    return page.render(
        "staff/dashboard.html",
        served=least_fresh(unconfirmed.served, counts.served, rates.served, listed.served),
        section="dashboard",
        error=error,
        campaigns=campaigns,
        campaign=campaign,
        total=counts.body["total"] if counts.ok else None,
        bars=bars(counts.body["districts"]) if counts.ok else [],
        chart_width=CHART_WIDTH,
        curve=curve(rates.body["points"]) if rates.ok else None,
        curve_size=(CURVE_WIDTH, CURVE_HEIGHT),
        unconfirmed=unconfirmed.body if unconfirmed.ok else None,
        cursor=cursor,
    )
