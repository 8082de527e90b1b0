"""Residents: search (as the registry searches: kanji, kana, half-width), a resident's
record with their moves (recording a 転居, 転出, 死亡 or 世帯変更), a household, and a
転入 or 出生 registered after a confirmation step. Every read and write goes through the
registry's API, which checks each write and audits each view of personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response

from console.common.api import least_fresh
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
        can_record=staff.has_role("staff"),
        query_string=_query({**form, "include_inactive": "1" if include_inactive else ""}),
    )


#: what a 転入 or 出生 form holds, in its order (the confirmation page carries them on)
REGISTRATION_FIELDS = (
    "kind",
    "effective_on",
    "resident_no",
    "household_no",
    "relationship",
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "birth_date",
    "sex",
    "nationality",
    "town_name",
    "block",
    "building",
    "previous_address",
    "phone",
    "language",
)
REGISTRATION_KINDS = ("move_in", "birth")
SEXES = ("female", "male")
Field = Annotated[str, Form(max_length=250)]


@router.get("/residents/new")
async def new_resident(staff: Staff) -> Response:
    """A 転入 or 出生: the form, then a confirmation page, then the registry's API."""
    return _registration_page(staff, {"kind": "move_in", "language": "ja", "sex": ""})


def _registration_page(
    staff: Staff,
    form: dict[str, str],
    *,
    confirming: bool = False,
    error: str = "",
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    return staff.page.render(
        "staff/resident_new.html",
        status=status,
        section="residents",
        form={name: form.get(name, "") for name in REGISTRATION_FIELDS},
        kinds=REGISTRATION_KINDS,
        sexes=SEXES,
        confirming=confirming,
        error=error,
        problems=problems or [],
        can_record=staff.has_role("staff"),
    )


@router.post("/residents/new", dependencies=[CsrfChecked])
async def register_resident(
    staff: Staff,
    step: Annotated[str, Form(pattern=r"^(review|confirm|edit)$")],
    kind: Field = "",
    effective_on: Field = "",
    resident_no: Field = "",
    household_no: Field = "",
    relationship: Field = "",
    family_name: Field = "",
    given_name: Field = "",
    family_kana: Field = "",
    given_kana: Field = "",
    birth_date: Field = "",
    sex: Field = "",
    nationality: Field = "",
    town_name: Field = "",
    block: Field = "",
    building: Field = "",
    previous_address: Field = "",
    phone: Field = "",
    language: Field = "",
) -> Response:
    """review: the confirmation page (nothing written); edit: back to the form with what
    was typed; confirm: the registry's API, which checks everything (a refusal returns to
    the form with its reasons, nothing written)."""
    form = {name: value.strip() for name, value in locals().items() if name in REGISTRATION_FIELDS}
    if kind not in REGISTRATION_KINDS or sex not in SEXES:
        return _registration_page(staff, form, error=staff.page.t("register.choose"), status=422)
    if step == "edit":
        return _registration_page(staff, form)
    if step == "review":
        return _registration_page(staff, form, confirming=True)
    body: dict[str, object] = {
        name: form[name]
        for name in REGISTRATION_FIELDS
        if name not in ("town_name", "block", "building") and form[name]
    }
    body["address"] = {
        "town_name": form["town_name"],
        "block": form["block"],
        "building": form["building"],
    }
    answer = await staff.api("POST", "/residents", json=body)
    if answer.ok:
        return staff.page.redirect(
            f"{CONSOLE_PREFIX}/t/{staff.tenant}/residents/{answer.body['id']}?registered=1"
        )
    return _registration_page(
        staff,
        form,
        error=staff.page.localized(answer.problem),
        problems=_problems(staff, answer.body),
        status=answer.status,
    )


def _problems(staff: Staff, body: object) -> list[str]:
    """The registry's reasons, one per field, in the page's language."""
    if not isinstance(body, dict):
        return []
    return [
        staff.page.localized(str(error.get("msg", "")).removeprefix("Value error, "))
        for error in body.get("errors") or []
    ]


@router.get("/residents/{resident_id}")
async def resident(
    staff: Staff,
    resident_id: Annotated[str, Path(pattern=UUID)],
    recorded: Annotated[bool, Query()] = False,
    registered: Annotated[bool, Query()] = False,
) -> Response:
    notice = "register.done" if registered else "move.recorded" if recorded else ""
    return await _resident_page(staff, resident_id, notice=notice)


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
        served=least_fresh(record.served, *([moves.served] if moves else [])),
        error=staff.page.localized(record.problem) if not record.ok else "",
        resident=record.body if record.ok else None,
        moves=moves.body if moves is not None and moves.ok else [],
        notice=staff.page.t(notice) if notice else "",
        move_error=move_error,
        move_problems=move_problems or [],
        move_form=move_form or {"kind": "relocation"},
        can_record=staff.has_role("staff"),
    )


MOVE_KINDS = ("relocation", "move_out", "death", "household_change", "move_in")


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
    household_no: Annotated[str, Form(max_length=40)] = "",
    relationship: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A 転居, 転出, 死亡 or 世帯変更 (into another or a new household, with the
    relationship there), or a 転入 of someone who moved out, through the registry's API
    (it checks and audits it, and refuses a kind the resident's state does not allow)."""
    form = {
        "kind": kind,
        "effective_on": effective_on,
        "town_name": town_name,
        "block": block,
        "building": building,
        "other_address": other_address,
        "household_no": household_no,
        "relationship": relationship,
        "note": note,
    }
    if kind not in MOVE_KINDS:
        return await _resident_page(
            staff, resident_id, move_error=staff.page.t("move.bad_kind"), move_form=form, status=422
        )
    body: dict[str, object] = {"kind": kind, "effective_on": effective_on, "version": version}
    if kind in ("relocation", "move_in"):  # move_in: back after a 転出
        body["address"] = {"town_name": town_name, "block": block, "building": building}
    if kind in ("move_out", "move_in") and other_address:
        body["other_address"] = other_address
    if kind == "household_change":
        body["household_no"] = household_no.strip()
        body["relationship"] = relationship.strip()
    if note:
        body["note"] = note
    answer = await staff.api("POST", f"/residents/{resident_id}/moves", json=body)
    if answer.ok:
        return staff.page.redirect(
            f"{CONSOLE_PREFIX}/t/{staff.tenant}/residents/{resident_id}?recorded=1"
        )
    return await _resident_page(
        staff,
        resident_id,
        move_error=staff.page.localized(answer.problem),
        move_problems=_problems(staff, answer.body),
        move_form=form,
        status=answer.status,
    )


@router.get("/households/{household_id}")
async def household(
    staff: Staff,
    household_id: Annotated[str, Path(pattern=UUID)],
    moved: Annotated[bool, Query()] = False,
) -> Response:
    return await _household_page(staff, household_id, notice="household.moved" if moved else "")


HOUSEHOLD_MOVE_FIELDS = ("effective_on", "town_name", "block", "building", "note")


async def _household_page(
    staff: Staff,
    household_id: str,
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    confirming: bool = False,
    error: str = "",
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    answer = await staff.api("GET", f"/households/{household_id}")
    return staff.page.render(
        "staff/household.html",
        status=answer.status if not answer.ok else status,
        section="residents",
        served=answer.served,
        error=staff.page.localized(answer.problem) if not answer.ok else "",
        household=answer.body if answer.ok else None,
        notice=staff.page.t(notice) if notice else "",
        move_form=form or {name: "" for name in HOUSEHOLD_MOVE_FIELDS},
        confirming=confirming,
        move_error=error,
        move_problems=problems or [],
        can_record=staff.has_role("staff"),
    )


@router.post("/households/{household_id}/moves", dependencies=[CsrfChecked])
async def move_household(
    staff: Staff,
    household_id: Annotated[str, Path(pattern=UUID)],
    step: Annotated[str, Form(pattern=r"^(review|confirm|edit)$")],
    effective_on: Annotated[str, Form(max_length=10)] = "",
    town_name: Field = "",
    block: Field = "",
    building: Field = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """転居 of every active member on one day: review (the members who will move, nothing
    written), then the registry's API, which checks and audits it."""
    form = {
        "effective_on": effective_on.strip(),
        "town_name": town_name.strip(),
        "block": block.strip(),
        "building": building.strip(),
        "note": note.strip(),
    }
    if step != "confirm":
        return await _household_page(staff, household_id, form=form, confirming=step == "review")
    body: dict[str, object] = {
        "effective_on": form["effective_on"],
        "address": {
            "town_name": form["town_name"],
            "block": form["block"],
            "building": form["building"],
        },
    }
    if form["note"]:
        body["note"] = form["note"]
    answer = await staff.api("POST", f"/households/{household_id}/moves", json=body)
    if answer.ok:
        return staff.page.redirect(
            f"{CONSOLE_PREFIX}/t/{staff.tenant}/households/{household_id}?moved=1"
        )
    return await _household_page(
        staff,
        household_id,
        form=form,
        error=staff.page.localized(answer.problem),
        problems=_problems(staff, answer.body),
        status=answer.status,
    )


def _query(values: dict[str, object]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in values.items() if v not in ("", None, False)})
