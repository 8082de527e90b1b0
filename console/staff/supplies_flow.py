"""A request from its draft to its receipt: a shelter (or staff) drafts the request and
submits it; once committed, a depot dispatches what it holds for it (vehicle, driver,
times); the shelter receives the shipment, in part, with each difference reported.
Every write is the supplies API's own (its roles, checks and audit), so a refusal is
the API's, shown on the form with nothing written."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response

from console.common.api import ApiAnswer
from console.common.times import JAPAN
from console.common.web import CONSOLE_PREFIX, CsrfChecked
from console.staff.signin import Staff
from console.staff.supplies import UUID, readable_places, supplies_page

#: included by console.staff.routes (under /console), beside console.staff.supplies
router = APIRouter(prefix="/t/{tenant}/supplies", include_in_schema=False)

RequestId = Annotated[str, Path(pattern=UUID)]
ShipmentId = Annotated[str, Path(pattern=UUID)]
#: blank line rows a new request's form offers (more are added to the draft afterwards)
LINE_ROWS = 6
SHELTER_KINDS = ("shelter", "welfare_shelter")
DISCREPANCY_KINDS = ("short", "damaged", "over")
Lines = Annotated[list[str] | None, Form()]
Text = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=100)]


class Refused(ValueError):
    """Input the page refuses before asking the API (its message is the page's own)."""


def typed_time(text: str, message: str) -> str | None:
    """A datetime-local field (Japan's time) as an aware ISO time for the API."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(unicodedata.normalize("NFKC", text))
    except ValueError:
        raise Refused(message) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JAPAN)
    return moment.isoformat()


def typed_quantity(text: str, message: str, *, zero: bool = False) -> Decimal | None:
    """A quantity typed in a field (full-width digits too); blank is None."""
    text = unicodedata.normalize("NFKC", text).strip().replace(",", "")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Refused(message) from None
    if not number.is_finite() or number < 0 or (number == 0 and not zero):
        raise Refused(message)
    return number


def _lines_of(
    staff: Staff, items: list[str], quantities: list[str], vulnerable: list[str]
) -> list[dict[str, Any]]:
    """The filled rows of a form's line table as the API's lines (a row with no item is
    left out; a row with an item needs a quantity)."""
    if not (len(items) == len(quantities) == len(vulnerable)):
        raise Refused(staff.page.t("draft.bad_rows"))
    lines = []
    for item, amount, of_which in zip(items, quantities, vulnerable, strict=True):
        if not item.strip():
            continue
        quantity = typed_quantity(amount, staff.page.t("draft.bad_quantity", item=item))
        if quantity is None:
            raise Refused(staff.page.t("draft.bad_quantity", item=item))
        line: dict[str, Any] = {"item": item.strip(), "quantity": str(quantity)}
        share = typed_quantity(of_which, staff.page.t("draft.bad_quantity", item=item))
        if share:
            line["vulnerable"] = str(share)
        lines.append(line)
    return lines


def _request_url(staff: Staff, request_id: str, done: str = "") -> str:
    url = f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/requests/{request_id}"
    return url + ("?" + urlencode({"done": done}) if done else "")


#: the form again with the API's refusal (its words, its status)
Refusal = Callable[[str, int], Awaitable[Response]]


async def post_or_refuse(
    staff: Staff,
    path: str,
    body: Any,
    *,
    refused: Refusal,
    done: Callable[[ApiAnswer], str],
) -> Response:
    """POST to the supplies API: the page ``done`` names once it is written, or the form
    again (``refused``) with the API's reason in the page's language, nothing written."""
    answer = await staff.api("POST", path, json=body)
    if not answer.ok:
        return await refused(staff.page.localized(answer.problem), answer.status)
    return staff.page.redirect(done(answer))


async def _items(staff: Staff) -> list[dict[str, Any]]:
    answer = await staff.api("GET", "/supplies/items")
    return [item for item in answer.body if item["active"]] if answer.ok else []


def _rows(items: list[str], quantities: list[str], vulnerable: list[str]) -> list[dict[str, str]]:
    """The line table as it was sent (shown again after a refusal), padded to LINE_ROWS."""
    rows = [
        {"item": i, "quantity": q, "vulnerable": v}
        for i, q, v in zip(items, quantities, vulnerable, strict=False)
    ][:50]
    rows += [{"item": "", "quantity": "", "vulnerable": ""}] * max(0, LINE_ROWS - len(rows))
    return rows


@router.get("/requests/new")
async def new_request(staff: Staff) -> Response:
    """A new request: its shelter, when it is needed, and a few line rows (the item list
    answers typed letters; Tab moves through each row)."""
    return await _draft_form(
        staff, form={"shelter": "", "needed_by": "", "note": "", "draft_id": ""}, rows=[]
    )


async def _draft_form(
    staff: Staff,
    *,
    form: dict[str, str],
    rows: list[dict[str, str]],
    error: str = "",
    status: int = 200,
    sent_before: str = "",
) -> Response:
    places = await readable_places(staff)
    shelters = [p for p in places.values() if p["kind"] in SHELTER_KINDS and p["active"]]
    # the request's id is made with the form, so sending it twice makes one request; a
    # refused form keeps its id (nothing was written under it)
    form = {**form, "draft_id": form.get("draft_id") or str(uuid.uuid4())}
    return supplies_page(
        staff,
        "supplies_request_new.html",
        None,
        status=status,
        subsection="requests",
        shelters=shelters,
        items=await _items(staff),
        form=form,
        rows=rows or _rows([], [], []),
        form_error=error,
        sent_before=sent_before,
    )


@router.post("/requests/new", dependencies=[CsrfChecked])
async def create_request(
    staff: Staff,
    shelter: Annotated[str, Form(max_length=36)] = "",
    needed_by: Annotated[str, Form(max_length=40)] = "",
    note: Text = "",
    item: Lines = None,
    quantity: Lines = None,
    vulnerable: Lines = None,
    action: Annotated[str, Form(pattern=r"^(draft|submit)$")] = "draft",
    draft_id: Annotated[str, Form(pattern=r"^$|" + UUID[1:])] = "",
) -> Response:
    items, quantities, shares = item or [], quantity or [], vulnerable or []
    # the id the page's form carries (a form without one gets its own: made once anyway)
    draft_id = draft_id or str(uuid.uuid4())
    form = {"shelter": shelter, "needed_by": needed_by, "note": note, "draft_id": draft_id}
    try:
        lines = _lines_of(staff, items, quantities, shares)
        if not lines:
            raise Refused(staff.page.t("draft.no_lines"))
        body: dict[str, Any] = {
            "id": draft_id,
            "shelter": shelter,
            "note": note,
            "lines": lines,
            "submit": action == "submit",
            "needed_by": typed_time(needed_by, staff.page.t("draft.bad_time")),
        }
    except Refused as refused:
        return await _draft_form(
            staff, form=form, rows=_rows(items, quantities, shares), error=str(refused), status=422
        )

    async def again(error: str, status: int) -> Response:
        # this form was sent before with other content: the page links the request it made
        held = status == 409 and (await staff.api("GET", f"/supplies/requests/{draft_id}")).ok
        return await _draft_form(
            staff,
            form=form,
            rows=_rows(items, quantities, shares),
            error=error,
            status=status,
            sent_before=draft_id if held else "",
        )

    def made_url(answer: ApiAnswer) -> str:
        made = "submitted" if action == "submit" else "drafted"
        # 200: this form was sent before, and this is the request it made then
        return _request_url(staff, answer.body["id"], "resent" if answer.status == 200 else made)

    return await post_or_refuse(staff, "/supplies/requests", body, refused=again, done=made_url)


@router.get("/requests/{request_id}")
async def request_page(
    staff: Staff,
    request_id: RequestId,
    done: Annotated[
        str,
        Query(pattern=r"^(|drafted|resent|submitted|lines|cancelled|dispatched|received)$"),
    ] = "",
) -> Response:
    return await _request_page(staff, request_id, notice=done)


async def _request_page(
    staff: Staff,
    request_id: str,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
    rows: list[dict[str, str]] | None = None,
) -> Response:
    """A request with its lines, its shipments and what this account may do next."""
    answer = await staff.api("GET", f"/supplies/requests/{request_id}")
    request = answer.body if answer.ok else None
    shipments: list[dict[str, Any]] = []
    if request is not None:
        sent = await staff.api("GET", f"/supplies/requests/{request_id}/shipments")
        shipments = sent.body if sent.ok else []
    places = await readable_places(staff)
    held = _held_at(request) if request is not None else {}
    return supplies_page(
        staff,
        "supplies_request.html",
        answer,
        status=status if answer.ok else answer.status,
        subsection="requests",
        request=request,
        shipments=shipments,
        places=places,
        held=held,
        items=await _items(staff) if request and request["status"] == "draft" else [],
        rows=rows or _rows([], [], [])[:3],
        notice=staff.page.t("flow.done." + notice) if notice else "",
        form_error=error,
    )


def _held_at(request: dict[str, Any]) -> dict[str, int]:
    """Depots holding something of the request not shipped yet: place id → lines."""
    held: dict[str, int] = {}
    for allocation in request["allocations"]:
        if not allocation["shipped"]:
            held[allocation["place_id"]] = held.get(allocation["place_id"], 0) + 1
    return held


def _on_request_page(staff: Staff, request_id: str) -> Refusal:
    return lambda error, status: _request_page(staff, request_id, error=error, status=status)


@router.post("/requests/{request_id}/lines", dependencies=[CsrfChecked])
async def add_lines(
    staff: Staff,
    request_id: RequestId,
    item: Lines = None,
    quantity: Lines = None,
    vulnerable: Lines = None,
) -> Response:
    items, quantities, shares = item or [], quantity or [], vulnerable or []
    try:
        lines = _lines_of(staff, items, quantities, shares)
        if not lines:
            raise Refused(staff.page.t("draft.no_lines"))
    except Refused as refused:
        return await _request_page(
            staff,
            request_id,
            error=str(refused),
            status=422,
            rows=_rows(items, quantities, shares)[: max(3, len(items))],
        )
    return await post_or_refuse(
        staff,
        f"/supplies/requests/{request_id}/lines",
        {"lines": lines},
        refused=_on_request_page(staff, request_id),
        done=lambda _: _request_url(staff, request_id, "lines"),
    )


@router.post("/requests/{request_id}/submit", dependencies=[CsrfChecked])
async def submit_request(staff: Staff, request_id: RequestId) -> Response:
    return await post_or_refuse(
        staff,
        f"/supplies/requests/{request_id}/submit",
        None,
        refused=_on_request_page(staff, request_id),
        done=lambda _: _request_url(staff, request_id, "submitted"),
    )


@router.post("/requests/{request_id}/cancel", dependencies=[CsrfChecked])
async def cancel_request(
    staff: Staff, request_id: RequestId, reason: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    if not reason.strip():
        return await _request_page(
            staff, request_id, error=staff.page.t("flow.cancel_reason_needed"), status=422
        )
    return await post_or_refuse(
        staff,
        f"/supplies/requests/{request_id}/cancel",
        {"reason": reason.strip()},
        refused=_on_request_page(staff, request_id),
        done=lambda _: _request_url(staff, request_id, "cancelled"),
    )


@router.get("/requests/{request_id}/dispatch")
async def dispatch_form(
    staff: Staff,
    request_id: RequestId,
    depot: Annotated[str, Query(pattern=r"^$|^[A-Za-z0-9-]{1,36}$")] = "",
) -> Response:
    """The dispatch of what one depot holds for the request: vehicle, driver, times."""
    now = datetime.now(JAPAN).strftime("%Y-%m-%dT%H:%M")
    return await _dispatch_page(
        staff,
        request_id,
        form={
            "from_place": depot,
            "departed_at": now,
            "expected_at": "",
            "vehicle": "",
            "driver": "",
            "driver_phone": "",
            "note": "",
        },
    )


async def _dispatch_page(
    staff: Staff, request_id: str, *, form: dict[str, str], error: str = "", status: int = 200
) -> Response:
    answer = await staff.api("GET", f"/supplies/requests/{request_id}")
    request = answer.body if answer.ok else None
    return supplies_page(
        staff,
        "supplies_dispatch.html",
        answer,
        status=status if answer.ok else answer.status,
        subsection="shipments",
        request=request,
        held=_held_at(request) if request is not None else {},
        lines={line["id"]: line for line in request["lines"]} if request is not None else {},
        places=await readable_places(staff),
        form=form,
        form_error=error,
    )


@router.post("/requests/{request_id}/dispatch", dependencies=[CsrfChecked])
async def dispatch(
    staff: Staff,
    request_id: RequestId,
    from_place: Annotated[str, Form(max_length=36)] = "",
    vehicle: Annotated[str, Form(max_length=60)] = "",
    driver: Short = "",
    driver_phone: Annotated[str, Form(max_length=30)] = "",
    departed_at: Annotated[str, Form(max_length=40)] = "",
    expected_at: Annotated[str, Form(max_length=40)] = "",
    note: Text = "",
) -> Response:
    form = {
        "from_place": from_place,
        "vehicle": vehicle,
        "driver": driver,
        "driver_phone": driver_phone,
        "departed_at": departed_at,
        "expected_at": expected_at,
        "note": note,
    }
    try:
        bad_time = staff.page.t("draft.bad_time")
        body = {
            "from_place": from_place,
            "vehicle": vehicle.strip(),
            "driver": driver.strip(),
            "driver_phone": unicodedata.normalize("NFKC", driver_phone).strip(),
            "departed_at": typed_time(departed_at, bad_time),
            "expected_at": typed_time(expected_at, bad_time),
            "note": note,
        }
    except Refused as refused:
        return await _dispatch_page(staff, request_id, form=form, error=str(refused), status=422)
    return await post_or_refuse(
        staff,
        f"/supplies/requests/{request_id}/shipments",
        body,
        refused=lambda error, status: _dispatch_page(
            staff, request_id, form=form, error=error, status=status
        ),
        done=lambda _: _request_url(staff, request_id, "dispatched"),
    )


@router.get("/shipments/{shipment_id}/receive")
async def receive_form(staff: Staff, shipment_id: ShipmentId) -> Response:
    """What arrived, line by line: the shipped amount is filled in; a line that differs
    needs its reason (short, damaged, over)."""
    now = datetime.now(JAPAN).strftime("%Y-%m-%dT%H:%M")
    return await _receipt_page(staff, shipment_id, arrived_at=now, given={})


async def _receipt_page(
    staff: Staff,
    shipment_id: str,
    *,
    arrived_at: str,
    given: dict[str, dict[str, str]],
    error: str = "",
    status: int = 200,
) -> Response:
    answer = await staff.api("GET", f"/supplies/shipments/{shipment_id}")
    shipment = answer.body if answer.ok else None
    names: dict[str, dict[str, Any]] = {}
    if shipment is not None:
        request = await staff.api("GET", f"/supplies/requests/{shipment['request_id']}")
        if request.ok:
            names = {line["id"]: line for line in request.body["lines"]}
    return supplies_page(
        staff,
        "supplies_receive.html",
        answer,
        status=status if answer.ok else answer.status,
        subsection="shipments",
        shipment=shipment,
        names=names,
        places=await readable_places(staff),
        arrived_at=arrived_at,
        given=given,
        kinds=DISCREPANCY_KINDS,
        form_error=error,
    )


@router.post("/shipments/{shipment_id}/receive", dependencies=[CsrfChecked])
async def receive(
    staff: Staff,
    shipment_id: ShipmentId,
    arrived_at: Annotated[str, Form(max_length=40)] = "",
    line: Lines = None,
    received: Lines = None,
    kind: Lines = None,
    reason: Lines = None,
) -> Response:
    """Only the lines that differ from what was shipped (or carry a reason) are sent: the
    API takes a line left out as arrived in full."""
    ids, amounts, kinds, notes = line or [], received or [], kind or [], reason or []
    given = {
        i: {"received": a, "kind": k, "reason": n}
        for i, a, k, n in zip(ids, amounts, kinds, notes, strict=False)
    }
    shipment = await staff.api("GET", f"/supplies/shipments/{shipment_id}")
    if not shipment.ok:
        return await _receipt_page(staff, shipment_id, arrived_at=arrived_at, given=given)
    shipped = {row["id"]: Decimal(str(row["shipped"])) for row in shipment.body["lines"]}
    try:
        if not (len(ids) == len(amounts) == len(kinds) == len(notes)) or len(given) != len(ids):
            raise Refused(staff.page.t("draft.bad_rows"))
        lines = []
        for line_id, row in given.items():
            if line_id not in shipped or row["kind"] not in ("", *DISCREPANCY_KINDS):
                raise Refused(staff.page.t("draft.bad_rows"))
            amount = typed_quantity(
                row["received"], staff.page.t("receive.bad_quantity"), zero=True
            )
            amount = shipped[line_id] if amount is None else amount
            if amount == shipped[line_id] and not row["kind"]:
                continue
            entry: dict[str, Any] = {"line": line_id, "received": str(amount)}
            if row["kind"]:
                entry["discrepancy"] = {"kind": row["kind"], "note": row["reason"][:2000]}
            lines.append(entry)
        body = {
            "arrived_at": typed_time(arrived_at, staff.page.t("draft.bad_time")),
            "lines": lines,
        }
    except Refused as refused:
        return await _receipt_page(
            staff, shipment_id, arrived_at=arrived_at, given=given, error=str(refused), status=422
        )
    return await post_or_refuse(
        staff,
        f"/supplies/shipments/{shipment_id}/receipt",
        body,
        refused=lambda error, status: _receipt_page(
            staff, shipment_id, arrived_at=arrived_at, given=given, error=error, status=status
        ),
        done=lambda _: _request_url(staff, shipment.body["request_id"], "received"),
    )
