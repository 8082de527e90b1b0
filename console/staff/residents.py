"""Residents: search (as the registry searches: kanji, kana, half-width), a resident's
record with their moves, a household. Every read goes through the registry's API,
which audits each view of personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response

from console.common.web import CONSOLE_PREFIX, CsrfChecked
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
async def resident(
    staff: Staff,
    resident_id: Annotated[str, Path(pattern=UUID)],
    recorded: Annotated[bool, Query()] = False,
) -> Response:
    return await _resident_page(staff, resident_id, notice="move.recorded" if recorded else "")


async def _resident_page(
    staff: Staff,
    resident_id: str,
    *,
    notice: str = "",
    move_error: str = "",
    move_problems: list[str] | None = None,
    move_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    record = await staff.api("GET", f"/residents/{resident_id}")
    moves = await staff.api("GET", f"/residents/{resident_id}/moves") if record.ok else None
    return staff.page.render(
        "staff/resident.html",
        status=record.status if not record.ok else status,
        section="residents",
        served=record.served,
        error=staff.page.localized(record.problem) if not record.ok else "",
        resident=record.body if record.ok else None,
        moves=moves.body if moves is not None and moves.ok else [],
        notice=staff.page.t(notice) if notice else "",
        move_error=move_error,
        move_problems=move_problems or [],
        move_form=move_form or {"kind": "relocation"},
        can_record=staff.has_role("staff"),
    )


MOVE_KINDS = ("relocation", "move_out", "death")


@router.post("/residents/{resident_id}/moves", dependencies=[CsrfChecked])
async def record_move(
    staff: Staff,
    resident_id: Annotated[str, Path(pattern=UUID)],
    kind: Annotated[str, Form(max_length=20)],
    effective_on: Annotated[str, Form(max_length=10)],
    version: Annotated[int, Form(ge=1)],
    town_name: Annotated[str, Form(max_length=200)] = "",
    block: Annotated[str, Form(max_length=100)] = "",
    building: Annotated[str, Form(max_length=200)] = "",
    other_address: Annotated[str, Form(max_length=500)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A 転居, 転出 or 死亡 through the registry's API (it checks and audits it)."""
    form = {
        "kind": kind,
        "effective_on": effective_on,
        "town_name": town_name,
        "block": block,
        "building": building,
        "other_address": other_address,
        "note": note,
    }
    if kind not in MOVE_KINDS:
        return await _resident_page(
            staff, resident_id, move_error=staff.page.t("move.bad_kind"), move_form=form, status=422
        )
    body: dict[str, object] = {"kind": kind, "effective_on": effective_on, "version": version}
    if kind == "relocation":
        body["address"] = {"town_name": town_name, "block": block, "building": building}
    if kind == "move_out" and other_address:
        body["other_address"] = other_address
    if note:
        body["note"] = note
    answer = await staff.api("POST", f"/residents/{resident_id}/moves", json=body)
    if answer.ok:
        return staff.page.redirect(
            f"{CONSOLE_PREFIX}/t/{staff.tenant}/residents/{resident_id}?recorded=1"
        )
    problems = []
    if isinstance(answer.body, dict):
        problems = [
            staff.page.localized(str(error.get("msg", "")).removeprefix("Value error, "))
            for error in answer.body.get("errors") or []
        ]
    return await _resident_page(
        staff,
        resident_id,
        move_error=staff.page.localized(answer.problem),
        move_problems=problems,
        move_form=form,
        status=answer.status,
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
