"""Safety confirmation's lists for staff: the door-to-door visit list of a 町字 (to print,
needs-assistance first) and the residents whose reports disagree (to review). Each
comes from safety confirmation's staff views, which audit every list of people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from console.common.web import CONSOLE_PREFIX
from console.staff.signin import Staff

router = APIRouter(
    prefix=CONSOLE_PREFIX + "/t/{tenant}/safety/{campaign_id}", include_in_schema=False
)
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
Campaign = Annotated[str, Path(pattern=UUID)]
Cursor = Annotated[str, Query(max_length=200)]


@router.get("/visits")
async def visit_list(
    staff: Staff,
    campaign_id: Campaign,
    town: Annotated[str, Query(min_length=1, max_length=80)],
    cursor: Cursor = "",
) -> Response:
    answer = await staff.api(
        "GET",
        f"/safety/campaigns/{campaign_id}/visits",
        params={"town": town, "cursor": cursor, "limit": 200},
    )
    return staff.page.render(
        "staff/visits.html",
        status=200 if answer.ok else answer.status,
        section="dashboard",
        served=answer.served,
        error="" if answer.ok else staff.page.localized(answer.problem),
        visits=answer.body if answer.ok else None,
        campaign_id=campaign_id,
        town=town,
        cursor=cursor,
    )


@router.get("/disagreements")
async def review_queue(staff: Staff, campaign_id: Campaign, cursor: Cursor = "") -> Response:
    answer = await staff.api(
        "GET",
        f"/safety/campaigns/{campaign_id}/disagreements",
        params={"cursor": cursor, "limit": 50},
    )
    return staff.page.render(
        "staff/disagreements.html",
        status=200 if answer.ok else answer.status,
        section="dashboard",
        served=answer.served,
        error="" if answer.ok else staff.page.localized(answer.problem),
        queue=answer.body if answer.ok else None,
        campaign_id=campaign_id,
        cursor=cursor,
    )
