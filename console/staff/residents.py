"""Residents: search (as the registry searches: kanji, kana, half-width), a resident's
record with their moves, a household. Every read goes through the registry's API,
which audits each view of personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from console.common.web import CONSOLE_PREFIX
from console.staff.signin import Staff

router = APIRouter(prefix=CONSOLE_PREFIX + "/t/{tenant}", include_in_schema=False)

UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PAGE_SIZE = 20


@router.get("/residents")
async def search(
    staff: Staff,
    q: Annotated[str, Query(max_length=100)] = "",
    address: Annotated[str, Query(max_length=200)] = "",
    birth_date: Annotated[str, Query(max_length=10)] = "",
    household_no: Annotated[str, Query(max_length=40)] = "",
    include_inactive: Annotated[bool, Query()] = False,
    cursor: Annotated[str, Query(max_length=400)] = "",
) -> Response:
    form = {
        "q": q,
        "address": address,
        "birth_date": birth_date,
        "household_no": household_no,
        "include_inactive": include_inactive,
    }
    searched = any((q, address, birth_date, household_no))
    answer = None
    if searched:
        answer = await staff.api(
            "GET",
            "/residents",
            params={
                **form,
                "include_inactive": str(include_inactive).lower(),
                "limit": PAGE_SIZE,
                "cursor": cursor,
            },
        )
    return staff.page.render(
        "staff/residents.html",
        section="residents",
        served=answer.served if answer else None,
        form=form,
        searched=searched,
        error=staff.page.localized(answer.problem) if answer and not answer.ok else "",
        results=answer.body["items"] if answer and answer.ok else [],
        next_cursor=answer.body["next_cursor"] if answer and answer.ok else None,
        cursor=cursor,
        query_string=_query({**form, "include_inactive": "1" if include_inactive else ""}),
    )


@router.get("/residents/{resident_id}")
async def resident(staff: Staff, resident_id: Annotated[str, Path(pattern=UUID)]) -> Response:
    record = await staff.api("GET", f"/residents/{resident_id}")
    moves = await staff.api("GET", f"/residents/{resident_id}/moves") if record.ok else None
    return staff.page.render(
        "staff/resident.html",
        status=record.status if not record.ok else 200,
        section="residents",
        served=record.served,
        error=staff.page.localized(record.problem) if not record.ok else "",
        resident=record.body if record.ok else None,
        moves=moves.body if moves is not None and moves.ok else [],
    )


@router.get("/households/{household_id}")
async def household(staff: Staff, household_id: Annotated[str, Path(pattern=UUID)]) -> Response:
    answer = await staff.api("GET", f"/households/{household_id}")
    return staff.page.render(
        "staff/household.html",
        status=answer.status if not answer.ok else 200,
        section="residents",
        served=answer.served,
        error=staff.page.localized(answer.problem) if not answer.ok else "",
        household=answer.body if answer.ok else None,
    )


def _query(values: dict[str, object]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in values.items() if v not in ("", None, False)})
