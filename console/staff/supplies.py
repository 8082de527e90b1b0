"""Relief supplies for staff and shelter desks: shelters with their occupancy, the
shelter desk's check-in and check-out, the request queue, stock per place, shipments
and the allocation suggestion to confirm. Every read and write goes through the
supplies API (and the registry's directory for finding a resident), whose roles decide:
a shelter account sees only its own shelter, only staff approve."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response

from console.common.api import ApiAnswer, Served
from console.common.web import CONSOLE_PREFIX, CsrfChecked
from console.staff.signin import Staff

#: included by console.staff.routes (under /console)
router = APIRouter(prefix="/t/{tenant}/supplies", include_in_schema=False)

PAGE_SIZE = 20
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PlaceRef = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,36}$")]
RequestId = Annotated[str, Path(pattern=UUID)]
STATUSES = ("submitted", "approved", "committed", "shipped", "received", "draft", "cancelled")
SHIPPING_STATUSES = ("committed", "shipped", "received")
#: how many stays the desk lists (newest first); a shelter's full list is the API's
DESK_STAYS = 50
#: candidates the desk offers when a name matches several residents
DESK_CANDIDATES = 10


def quantity(value: Any) -> str:
    """12.0 → "12", 12.5 → "12.5" (the API's quantities are JSON numbers)."""
    number = Decimal(str(value))
    return f"{number.normalize():f}" if number == number.to_integral_value() else f"{number:f}"


def paged(items: list[Any], page: int) -> tuple[list[Any], int, int]:
    """One page of ``items`` (1-based), the page and the number of pages."""
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], page, pages


def supplies_page(
    staff: Staff,
    template: str,
    answer: ApiAnswer | None,
    *,
    served: Served | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    """A supplies page; a refused read shows the API's reason with its status."""
    error = ""
    if answer is not None and not answer.ok:
        error = staff.page.localized(answer.problem)
        status = answer.status
    return staff.page.render(
        f"staff/{template}",
        status=status,
        section="supplies",
        served=served or (answer.served if answer is not None else None),
        error=error,
        quantity=quantity,
        base=f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies",
        can_stock=staff.has_role("staff", "auditor", "depot", "shelter"),
        can_allocate=staff.has_role("staff", "auditor", "depot"),
        can_approve=staff.has_role("staff"),
        can_desk=staff.has_role("staff", "shelter"),
        # the API decides; these only choose which actions a page offers
        can_draft=staff.has_role("staff", "shelter"),
        can_ship=staff.has_role("staff", "depot"),
        can_receive=staff.has_role("staff", "shelter"),
        can_read_donations=staff.has_role("staff", "auditor"),
        **context,
    )


async def readable_places(staff: Staff) -> dict[str, dict[str, Any]]:
    """The places this account may read, by id (names for the lists)."""
    answer = await staff.api("GET", "/supplies/places")
    return {place["id"]: place for place in answer.body} if answer.ok else {}


@router.get("/")
async def supplies_home(staff: Staff) -> Response:
    return staff.page.redirect(f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/shelters")


@router.get("/shelters")
async def shelters(
    staff: Staff,
    q: Annotated[str, Query(max_length=100)] = "",
    state: Annotated[str, Query(pattern=r"^(|open|closed|over)$")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every shelter this account may read with its people now, filtered and paged here
    (the API answers a municipality's shelters in one list: hundreds, not millions)."""
    answer = await staff.api("GET", "/supplies/shelters/occupancy")
    rows = answer.body if answer.ok else []
    needle = q.strip().casefold()
    if needle:
        rows = [r for r in rows if needle in f"{r['shelter_code']} {r['name']}".casefold()]
    if state == "open":
        rows = [r for r in rows if r["is_open"]]
    elif state == "closed":
        rows = [r for r in rows if not r["is_open"]]
    elif state == "over":
        rows = [r for r in rows if r["over_capacity_night"]]
    shown, page, pages = paged(rows, page)
    return supplies_page(
        staff,
        "supplies_shelters.html",
        answer,
        subsection="shelters",
        shelters=shown,
        total_people=sum(r["people"] for r in rows),
        count=len(rows),
        form={"q": q, "state": state},
        page_no=page,
        pages=pages,
        query_string=urlencode({k: v for k, v in {"q": q, "state": state}.items() if v}),
    )


@router.get("/shelters/{shelter}/desk")
async def desk(
    staff: Staff,
    shelter: PlaceRef,
    checked_in: Annotated[str, Query(pattern=r"^$|" + UUID[1:])] = "",
    checked_out: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """After a check-in the URL names the stay, never the person (URLs end up in logs and
    the browser's history); the notice is the page's own text, never the URL's."""
    return await _desk_page(staff, shelter, checked_in=checked_in, checked_out=checked_out)


async def _desk_page(
    staff: Staff,
    shelter: str,
    *,
    checked_in: str = "",
    checked_out: int = 0,
    error: str = "",
    typed: str = "",
    candidates: list[dict[str, Any]] | None = None,
    unregistered: bool = False,
    status: int = 200,
) -> Response:
    occupancy = await staff.api("GET", f"/supplies/shelters/{shelter}/occupancy")
    if not occupancy.ok:
        return supplies_page(
            staff, "supplies_desk.html", occupancy, shelter=None, subsection="shelters"
        )
    stays = await staff.api(
        "GET", f"/supplies/shelters/{shelter}/stays", params={"open": "true", "limit": DESK_STAYS}
    )
    listed = stays.body if stays.ok else []
    names = await _resident_names(staff, [s["resident_id"] for s in listed if s["resident_id"]])
    notice = ""
    if checked_out:
        notice = staff.page.t("desk.checked_out", people=checked_out)
    for stay in listed:
        if checked_in and stay["id"] == checked_in:
            who = names.get(stay["resident_id"], "") if stay["resident_id"] else stay["label"]
            notice = staff.page.t("desk.checked_in", who=who or "—", people=stay["people"])
    response = supplies_page(
        staff,
        "supplies_desk.html",
        None,
        subsection="shelters",
        served=occupancy.served,
        shelter=occupancy.body,
        stays=listed,
        names=names,
        notice=notice,
        desk_error=error,
        typed=typed,
        candidates=candidates or [],
        unregistered=unregistered,
        check_in_id=str(uuid.uuid4()),
        status=status,
    )
    return response


async def _resident_names(staff: Staff, ids: list[str]) -> dict[str, str]:
    """The names of the residents checked in, through the directory (the minimal,
    audited view a shelter may have; a resident it may not see stays unnamed)."""
    names = {}
    for resident_id in ids:
        found = await staff.api("GET", f"/directory/residents/{resident_id}")
        if found.ok:
            names[resident_id] = f"{found.body['family_name']} {found.body['given_name']}"
    return names


@router.post("/shelters/{shelter}/desk/check-in", dependencies=[CsrfChecked])
async def desk_check_in(
    staff: Staff,
    shelter: PlaceRef,
    q: Annotated[str, Form(max_length=100)] = "",
    resident_id: Annotated[str, Form(pattern=r"^$|" + UUID[1:])] = "",
    label: Annotated[str, Form(max_length=100)] = "",
    people: Annotated[int, Form(ge=1, le=1000)] = 1,
    kind: Annotated[str, Form(pattern=r"^(|visitor|commuter|other)$")] = "",
    check_in_id: Annotated[str, Form(pattern=r"^$|" + UUID[1:])] = "",
) -> Response:
    """Enter in the desk's box: one registered resident found by the name typed is
    checked in at once; several are offered (the first focused, Enter takes it); none
    offers an unregistered check-in under that name (Enter again). A chosen resident
    (``resident_id``) or an unregistered party (``kind``) is checked in as given."""
    typed = q.strip()
    # the id the page's form carries: a form sent twice (a double Enter) checks in once
    check_in_id = check_in_id or str(uuid.uuid4())
    if resident_id:
        return await _check_in(
            staff, shelter, {"id": check_in_id, "kind": "resident", "resident_id": resident_id}
        )
    if kind:
        return await _check_in(
            staff,
            shelter,
            {"id": check_in_id, "kind": kind, "label": label.strip() or typed, "people": people},
        )
    if not typed:
        return await _desk_page(
            staff, shelter, error=staff.page.t("desk.empty"), typed=typed, status=422
        )
    found = await staff.api(
        "GET", "/directory/residents", params={"q": typed, "limit": DESK_CANDIDATES}
    )
    if not found.ok:
        return await _desk_page(
            staff,
            shelter,
            error=staff.page.localized(found.problem),
            typed=typed,
            status=found.status,
        )
    matches = found.body["items"]
    if len(matches) == 1:
        return await _check_in(
            staff, shelter, {"id": check_in_id, "kind": "resident", "resident_id": matches[0]["id"]}
        )
    return await _desk_page(
        staff, shelter, typed=typed, candidates=matches, unregistered=not matches
    )


async def _check_in(staff: Staff, shelter: str, body: dict[str, Any]) -> Response:
    answer = await staff.api("POST", f"/supplies/shelters/{shelter}/check-ins", json=body)
    if not answer.ok:
        return await _desk_page(
            staff, shelter, error=staff.page.localized(answer.problem), status=answer.status
        )
    return staff.page.redirect(
        f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/shelters/{shelter}/desk?"
        + urlencode({"checked_in": answer.body["id"]})
    )


@router.post("/shelters/{shelter}/desk/check-out", dependencies=[CsrfChecked])
async def desk_check_out(
    staff: Staff,
    shelter: PlaceRef,
    stay_id: Annotated[str, Form(pattern=UUID)],
    reason: Annotated[str, Form(pattern=r"^(left|moved|hospital)$")] = "left",
) -> Response:
    answer = await staff.api(
        "POST",
        f"/supplies/shelters/{shelter}/check-outs",
        json={"stay_id": stay_id, "reason": reason},
    )
    if not answer.ok:
        return await _desk_page(
            staff, shelter, error=staff.page.localized(answer.problem), status=answer.status
        )
    return staff.page.redirect(
        f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/shelters/{shelter}/desk?"
        + urlencode({"checked_out": answer.body["people"]})
    )


@router.get("/requests")
async def requests(
    staff: Staff,
    status: Annotated[str, Query(pattern=r"^(" + "|".join(STATUSES) + ")$")] = "submitted",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[str, Query(pattern=r"^(|approved)$")] = "",
) -> Response:
    answer = await staff.api("GET", "/supplies/requests", params={"status": status, "limit": 500})
    shown, page, pages = paged(answer.body if answer.ok else [], page)
    return supplies_page(
        staff,
        "supplies_requests.html",
        answer,
        subsection="requests",
        statuses=STATUSES,
        current_status=status,
        requests=shown,
        places=await readable_places(staff),
        page_no=page,
        pages=pages,
        notice=staff.page.t("requests.approved") if done else "",
    )


@router.get("/requests/{request_id}/approve")
async def approve_confirm(staff: Staff, request_id: RequestId) -> Response:
    """The confirmation step before approving: the request as it will be approved."""
    answer = await staff.api("GET", f"/supplies/requests/{request_id}")
    return supplies_page(
        staff,
        "supplies_approve.html",
        answer,
        subsection="requests",
        request=answer.body if answer.ok else None,
        places=await readable_places(staff),
    )


@router.post("/requests/{request_id}/approve", dependencies=[CsrfChecked])
async def approve(
    staff: Staff, request_id: RequestId, confirm: Annotated[str, Form(max_length=10)] = ""
) -> Response:
    if confirm != "yes":
        return staff.page.redirect(
            f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/requests/{request_id}/approve"
        )
    answer = await staff.api("POST", f"/supplies/requests/{request_id}/approve")
    if not answer.ok:
        return supplies_page(
            staff,
            "supplies_approve.html",
            answer,
            subsection="requests",
            request=None,
            places={},
        )
    return staff.page.redirect(
        f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/requests?status=submitted&done=approved"
    )


@router.get("/stock")
async def stock(
    staff: Staff,
    place: Annotated[str, Query(pattern=r"^$|^[A-Za-z0-9-]{1,36}$")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    places = await readable_places(staff)
    answer = await staff.api("GET", "/supplies/stock", params={"place": place})
    shown, page, pages = paged(answer.body if answer.ok else [], page)
    return supplies_page(
        staff,
        "supplies_stock.html",
        answer,
        subsection="stock",
        places=places,
        place=place,
        levels=shown,
        page_no=page,
        pages=pages,
        query_string=urlencode({"place": place} if place else {}),
    )


@router.get("/shipments")
async def shipments(
    staff: Staff,
    status: Annotated[str, Query(pattern=r"^(" + "|".join(SHIPPING_STATUSES) + ")$")] = "shipped",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Shipments by their request's state: a page of requests, each with its shipments."""
    answer = await staff.api("GET", "/supplies/requests", params={"status": status, "limit": 500})
    shown, page, pages = paged(answer.body if answer.ok else [], page)
    rows = []
    for request in shown:
        sent = await staff.api("GET", f"/supplies/requests/{request['id']}/shipments")
        lines = {line["id"]: line for line in request["lines"]}
        for shipment in sent.body if sent.ok else []:
            rows.append({"request": request, "shipment": shipment, "lines": lines})
    return supplies_page(
        staff,
        "supplies_shipments.html",
        answer,
        subsection="shipments",
        statuses=SHIPPING_STATUSES,
        current_status=status,
        rows=rows,
        places=await readable_places(staff),
        page_no=page,
        pages=pages,
    )


@router.get("/allocation")
async def allocation(staff: Staff, done: Annotated[int, Query(ge=0, le=500)] = 0) -> Response:
    """The suggestion for every approved request, each line with its rule in words; the
    page is the confirmation step (staff tick the requests they confirm)."""
    answer = await staff.api("GET", "/supplies/allocation")
    suggestions = answer.body if answer.ok else []
    by_request: dict[str, list[dict[str, Any]]] = {}
    for suggestion in suggestions:
        by_request.setdefault(suggestion["request_id"], []).append(suggestion)
    return supplies_page(
        staff,
        "supplies_allocation.html",
        answer,
        subsection="allocation",
        by_request=by_request,
        places=await readable_places(staff),
        notice=staff.page.t("allocation.committed", count=done) if done else "",
        commit_error="",
    )


@router.post("/allocation", dependencies=[CsrfChecked])
async def allocation_commit(
    staff: Staff, request_ids: Annotated[list[str] | None, Form(alias="request")] = None
) -> Response:
    chosen = [r for r in request_ids or [] if len(r) == 36][:500]
    if not chosen:
        answer = None
        error = staff.page.t("allocation.none_chosen")
    else:
        answer = await staff.api(
            "POST",
            "/supplies/allocation/commit",
            json={"requests": chosen, "accept_suggestion": True},
        )
        if answer.ok:
            return staff.page.redirect(
                f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/allocation?done={len(answer.body)}"
            )
        error = staff.page.localized(answer.problem)
    suggested = await staff.api("GET", "/supplies/allocation")
    by_request: dict[str, list[dict[str, Any]]] = {}
    for suggestion in suggested.body if suggested.ok else []:
        by_request.setdefault(suggestion["request_id"], []).append(suggestion)
    response = supplies_page(
        staff,
        "supplies_allocation.html",
        None,
        subsection="allocation",
        served=suggested.served,
        by_request=by_request,
        places=await readable_places(staff),
        notice="",
        commit_error=error,
        status=answer.status if answer is not None else 422,
    )
    return response
