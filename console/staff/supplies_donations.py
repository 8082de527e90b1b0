"""Unsolicited donation offers (企業・団体・個人からの寄付の申し出): the list by state,
paged here; recording an offer (donor, contact, the goods); accepting or declining one
after a confirmation step. Every read and write is the supplies API's (staff record and
decide, auditors read), so a refusal is the API's, shown with nothing written."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response

from console.common.web import CONSOLE_PREFIX, CsrfChecked
from console.staff.signin import Staff
from console.staff.supplies import UUID, paged, readable_places, supplies_page
from console.staff.supplies_flow import Lines, Refused, Text, post_or_refuse, typed_quantity

#: included by console.staff.routes (under /console), beside console.staff.supplies
router = APIRouter(prefix="/t/{tenant}/supplies", include_in_schema=False)

OfferId = Annotated[str, Path(pattern=UUID)]
OFFER_STATES = ("offered", "accepted", "received", "declined")
#: the kinds of place that receive goods into stock (備蓄倉庫, 物資拠点)
DEPOT_KINDS = ("stockpile", "hub")
#: blank goods rows the form offers
GOODS_ROWS = 5
#: a goods row's choice that names a kit (乳児セット …) rather than an item
KIT = "kit:"


def _list_url(staff: Staff, **query: str) -> str:
    return f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/donations?" + urlencode(query)


async def _item_names(staff: Staff) -> dict[str, dict[str, Any]]:
    answer = await staff.api("GET", "/supplies/items")
    return {item["code"]: item for item in answer.body} if answer.ok else {}


@router.get("/donations")
async def donations(
    staff: Staff,
    status: Annotated[str, Query(pattern=r"^(" + "|".join(OFFER_STATES) + ")$")] = "offered",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[str, Query(pattern=r"^(|recorded|resent|accept|decline|received)$")] = "",
) -> Response:
    notice = staff.page.t("donations.done." + done) if done else ""
    return await _list_page(staff, status, page, notice=notice)


async def _list_page(
    staff: Staff, state: str, page: int, *, notice: str = "", error: str = "", status: int = 200
) -> Response:
    answer = await staff.api("GET", "/supplies/donations")
    offers = [o for o in answer.body if o["status"] == state] if answer.ok else []
    shown, page, pages = paged(offers, page)
    places = await readable_places(staff)
    return supplies_page(
        staff,
        "supplies_donations.html",
        answer,
        status=status,
        subsection="donations",
        states=OFFER_STATES,
        current_status=state,
        offers=shown,
        names=await _item_names(staff),
        # where accepted goods may be received (the ledger's receipt at a depot)
        depots=[p for p in places.values() if p["kind"] in DEPOT_KINDS and p["active"]],
        page_no=page,
        pages=pages,
        notice=notice,
        form_error=error,
    )


def _rows(items: list[str], amounts: list[str], expiries: list[str]) -> list[dict[str, str]]:
    """The goods table as it was sent (shown again after a refusal), padded."""
    rows = [
        {"item": i, "quantity": q, "expires_on": e}
        for i, q, e in zip(items, amounts, expiries, strict=False)
    ][:50]
    rows += [{"item": "", "quantity": "", "expires_on": ""}] * max(0, GOODS_ROWS - len(rows))
    return rows


async def _offer_form(
    staff: Staff,
    *,
    form: dict[str, str],
    rows: list[dict[str, str]],
    error: str = "",
    status: int = 200,
) -> Response:
    # the offer's id is made with the form, so sending it twice records one offer
    form = {**form, "offer_id": form.get("offer_id") or str(uuid.uuid4())}
    items = await staff.api("GET", "/supplies/items")
    kits = await staff.api("GET", "/supplies/kits")
    return supplies_page(
        staff,
        "supplies_donation_new.html",
        None,
        served=items.served,
        status=status,
        subsection="donations",
        items=[i for i in items.body if i["active"]] if items.ok else [],
        kits=kits.body if kits.ok else [],
        form=form,
        rows=rows,
        form_error=error,
    )


@router.get("/donations/new")
async def new_offer(staff: Staff) -> Response:
    return await _offer_form(
        staff, form={"donor": "", "contact": "", "note": ""}, rows=_rows([], [], [])
    )


@router.post("/donations/new", dependencies=[CsrfChecked])
async def record_offer(
    staff: Staff,
    donor: Annotated[str, Form(max_length=200)] = "",
    contact: Annotated[str, Form(max_length=200)] = "",
    note: Text = "",
    item: Lines = None,
    quantity: Lines = None,
    expires_on: Lines = None,
    offer_id: Annotated[str, Form(pattern=r"^$|" + UUID[1:])] = "",
) -> Response:
    items, amounts, expiries = item or [], quantity or [], expires_on or []
    offer_id = offer_id or str(uuid.uuid4())
    form = {"donor": donor, "contact": contact, "note": note, "offer_id": offer_id}
    rows = _rows(items, amounts, expiries)
    try:
        if not (len(items) == len(amounts) == len(expiries)):
            raise Refused(staff.page.t("draft.bad_rows"))
        if not donor.strip():
            raise Refused(staff.page.t("donations.donor_needed"))
        lines = []
        for code, amount, expiry in zip(items, amounts, expiries, strict=True):
            if not code.strip():
                continue
            bad = staff.page.t("draft.bad_quantity", item=code)
            given = typed_quantity(amount, bad)
            if given is None:
                raise Refused(bad)
            line: dict[str, Any] = {"item": code.strip(), "quantity": str(given)}
            if code.startswith(KIT):  # a kit: the amount is how many kits
                if given != given.to_integral_value():
                    raise Refused(staff.page.t("donations.whole_kits", kit=code[len(KIT) :]))
                line = {"kit": code[len(KIT) :].strip(), "count": int(given)}
            if expiry.strip():
                try:
                    line["expires_on"] = date.fromisoformat(
                        unicodedata.normalize("NFKC", expiry).strip()
                    ).isoformat()
                except ValueError:
                    raise Refused(staff.page.t("donations.bad_date", item=code)) from None
            lines.append(line)
        if not lines:
            raise Refused(staff.page.t("draft.no_lines"))
    except Refused as refused:
        return await _offer_form(staff, form=form, rows=rows, error=str(refused), status=422)
    body = {
        "id": offer_id,
        "donor": donor.strip(),
        "contact": contact.strip(),
        "note": note,
        "lines": lines,
    }
    return await post_or_refuse(
        staff,
        "/supplies/donations",
        body,
        refused=lambda error, status: _offer_form(
            staff, form=form, rows=rows, error=error, status=status
        ),
        # 200: this form was sent before, and its offer is listed
        done=lambda answer: _list_url(
            staff, status="offered", done="resent" if answer.status == 200 else "recorded"
        ),
    )


@router.post("/donations/{offer_id}/receipt", dependencies=[CsrfChecked])
async def receive_offer(
    staff: Staff, offer_id: OfferId, depot: Annotated[str, Form(max_length=36)] = ""
) -> Response:
    """Accepted goods arrive at a depot: the API records the ledger's receipt. (Before the
    decision's routes, whose path would take "receipt" for a decision.)"""
    return await post_or_refuse(
        staff,
        f"/supplies/donations/{offer_id}/receive",
        {"place": depot},
        refused=lambda error, status: _list_page(staff, "accepted", 1, error=error, status=status),
        done=lambda _: _list_url(staff, status="received", done="received"),
    )


async def _decision_page(
    staff: Staff,
    offer_id: str,
    decision: str,
    *,
    note: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    answer = await staff.api("GET", "/supplies/donations")
    found = next((o for o in answer.body if o["id"] == offer_id), None) if answer.ok else None
    if answer.ok and found is None:
        error, status = staff.page.t("donations.unknown"), 404
    return supplies_page(
        staff,
        "supplies_donation_decide.html",
        answer,
        status=status,
        subsection="donations",
        offer=found,
        decision=decision,
        names=await _item_names(staff),
        note=note,
        form_error=error,
    )


@router.get("/donations/{offer_id}/{decision}")
async def decide_confirm(
    staff: Staff, offer_id: OfferId, decision: Annotated[str, Path(pattern=r"^(accept|decline)$")]
) -> Response:
    """The confirmation step: the offer as it will be accepted or declined."""
    return await _decision_page(staff, offer_id, decision)


@router.post("/donations/{offer_id}/{decision}", dependencies=[CsrfChecked])
async def decide(
    staff: Staff,
    offer_id: OfferId,
    decision: Annotated[str, Path(pattern=r"^(accept|decline)$")],
    confirm: Annotated[str, Form(max_length=10)] = "",
    note: Text = "",
) -> Response:
    if confirm != "yes":
        return await _decision_page(staff, offer_id, decision, note=note)
    return await post_or_refuse(
        staff,
        f"/supplies/donations/{offer_id}/{decision}",
        {"note": note.strip()},
        refused=lambda error, status: _decision_page(
            staff, offer_id, decision, note=note, error=error, status=status
        ),
        done=lambda _: _list_url(staff, status="offered", done=decision),
    )
