"""Changing an allocation suggestion before confirming it: for one approved request, each
line with the rule that suggested its amount (in words) and the depots' free lots of its
item, the suggested amount filled in where the suggestion took it. Staff move amounts to
another depot or lot, or lower them; the page refuses a negative amount or one over what
a lot has free, and the API checks the picks again against the stock of the moment (over
a lot, over the line, a fraction of a whole unit): a refusal writes nothing and comes
back on the page with what was typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from console.common.api import Served
from console.common.web import CONSOLE_PREFIX, CsrfChecked
from console.staff.signin import Staff
from console.staff.supplies import UUID, quantity, readable_places, supplies_page
from console.staff.supplies_flow import Lines, Refused, post_or_refuse, typed_quantity

#: included by console.staff.routes (under /console), beside console.staff.supplies
router = APIRouter(prefix="/t/{tenant}/supplies", include_in_schema=False)

RequestId = Annotated[str, Path(pattern=UUID)]


@dataclass
class Choice:
    """One lot a line may take from: its depot, what it has free, what was suggested."""

    key: str  # "line/place/lot": the form's name for it
    line_id: str
    place_id: str
    lot_id: str
    expires_on: str | None
    free: Decimal
    suggested: Decimal


@dataclass
class ChangeView:
    """The request's open lines as suggested, each with the lots it may take from."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    choices: dict[str, list[Choice]] = field(default_factory=dict)  # line id → lots
    #: where the suggestion was read (the page says which site and copy served it)
    served: Served | None = None

    def choice(self, key: str) -> Choice | None:
        line_id = key.split("/", 1)[0]
        return next((c for c in self.choices.get(line_id, []) if c.key == key), None)


async def _view(staff: Staff, request_id: str) -> tuple[ChangeView, Any]:
    """Read again at every step (the page's numbers are never trusted): the suggestion
    for the request's lines and the free lots of their items."""
    suggested = await staff.api("GET", "/supplies/allocation")
    view = ChangeView(served=suggested.served)
    if not suggested.ok:
        return view, suggested
    view.lines = [s for s in suggested.body if s["request_id"] == request_id]
    codes = sorted({line["item_code"] for line in view.lines})
    if not codes:
        return view, suggested
    free = await staff.api("GET", "/supplies/allocation/lots", params={"item": codes})
    if not free.ok:
        return view, free
    for line in view.lines:
        taken = {
            (pick["place_id"], pick["lot_id"]): Decimal(str(pick["quantity"]))
            for pick in line["picks"]
        }
        lots = [lot for lot in free.body if lot["item_code"] == line["item_code"]]
        # the suggested lots first (nearest, earliest expiry), then the rest by expiry
        lots.sort(
            key=lambda lot: (
                (lot["place_id"], lot["lot_id"]) not in taken,
                lot["expires_on"] or "9999",
                lot["place_code"],
            )
        )
        view.choices[line["line_id"]] = [
            Choice(
                key=f"{line['line_id']}/{lot['place_id']}/{lot['lot_id']}",
                line_id=line["line_id"],
                place_id=lot["place_id"],
                lot_id=lot["lot_id"],
                expires_on=lot["expires_on"],
                free=Decimal(str(lot["free"])),
                suggested=taken.get((lot["place_id"], lot["lot_id"]), Decimal(0)),
            )
            for lot in lots
        ]
    return view, suggested


async def _item_names(staff: Staff) -> dict[str, dict[str, Any]]:
    answer = await staff.api("GET", "/supplies/items")
    return {item["code"]: item for item in answer.body} if answer.ok else {}


async def _change_page(
    staff: Staff,
    request_id: str,
    *,
    typed: dict[str, str],
    error: str = "",
    status: int = 200,
    view: ChangeView | None = None,
) -> Response:
    answer = None
    if view is None:
        view, answer = await _view(staff, request_id)
    if answer is not None and answer.ok and not view.lines:
        error, status = staff.page.t("change.not_open"), 404
    return supplies_page(
        staff,
        "supplies_allocation_change.html",
        answer if answer is not None and not answer.ok else None,
        served=view.served,
        status=status,
        subsection="allocation",
        request_id=request_id,
        view=view,
        names=await _item_names(staff),
        places=await readable_places(staff),
        typed=typed,
        form_error=error,
    )


@router.get("/allocation/{request_id}/change")
async def change_form(staff: Staff, request_id: RequestId) -> Response:
    return await _change_page(staff, request_id, typed={})


@router.post("/allocation/{request_id}/change", dependencies=[CsrfChecked])
async def change_commit(
    staff: Staff, request_id: RequestId, pick: Lines = None, amount: Lines = None
) -> Response:
    """Commit the request with the amounts as changed: only lots of its open lines that
    have stock free now, none negative, none over what its lot has free."""
    keys, amounts = pick or [], amount or []
    typed = dict(zip(keys, amounts, strict=False))
    view, answer = await _view(staff, request_id)
    if not answer.ok or not view.lines:
        return await _change_page(staff, request_id, typed=typed)
    places = await readable_places(staff)
    names = await _item_names(staff)
    try:
        if len(keys) != len(amounts) or len(typed) != len(keys):
            raise Refused(staff.page.t("draft.bad_rows"))
        picks = []
        for key, text in typed.items():
            choice = view.choice(key)
            if choice is None:  # a lot that has nothing free now, or not this request's
                raise Refused(staff.page.t("change.gone"))
            depot = places.get(choice.place_id, {})
            what = {"depot": depot.get("name", choice.place_id[:8])}
            given = typed_quantity(text, staff.page.t("change.bad_amount", **what), zero=True)
            if not given:
                continue
            if given > choice.free:
                raise Refused(staff.page.t("change.over_stock", free=quantity(choice.free), **what))
            picks.append(
                {
                    "line": choice.line_id,
                    "place": choice.place_id,
                    "lot": choice.lot_id,
                    "quantity": str(given),
                }
            )
        if not picks:
            raise Refused(staff.page.t("change.nothing"))
        for line in view.lines:
            total = sum(Decimal(p["quantity"]) for p in picks if p["line"] == line["line_id"])
            if total > Decimal(str(line["open"])):
                item = names.get(line["item_code"], {})
                raise Refused(
                    staff.page.t(
                        "change.over_line",
                        item=item.get("name_ja" if staff.page.language == "ja" else "name_en")
                        or line["item_code"],
                        open=quantity(line["open"]),
                        total=quantity(total),
                    )
                )
    except Refused as refused:
        return await _change_page(
            staff, request_id, typed=typed, error=str(refused), status=422, view=view
        )
    return await post_or_refuse(
        staff,
        "/supplies/allocation/commit",
        {"requests": [request_id], "picks": picks},
        refused=lambda error, status: _change_page(
            staff, request_id, typed=typed, error=error, status=status, view=view
        ),
        done=lambda _: f"{CONSOLE_PREFIX}/t/{staff.tenant}/supplies/allocation?done=1",
    )
