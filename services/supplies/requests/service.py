"""Requests from shelters (and from other municipalities): drafting, the lifecycle, the
allocation suggestion over every approved request, and commitments.

Who may do what is decided here with the caller's `Reach` (supplies.access): a shelter
account sees and changes only its own shelters' requests; only staff approve.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supplies.access import Reach
from supplies.allocation import rules
from supplies.catalogue import service as catalogue
from supplies.catalogue.models import Item
from supplies.places import service as places
from supplies.places.models import DEPOT_KINDS, Place, PlaceKind
from supplies.quantities import check_whole
from supplies.requests.models import Allocation, Kit, KitItem, Origin, Request, RequestLine, Status
from supplies.requests.schemas import CommitIn, KitIn, LineIn, RequestIn
from supplies.shipments.models import Shipment, ShipmentStatus
from supplies.stock import service as stock
from supplies.stock.models import StockBalance
from supplies.stock.service import local_date
from yui.audit import service as audit
from yui.errors import Conflict, InvalidInput, NotFound

#: where each state may go (cancelling is allowed until the goods leave)
NEXT: dict[Status, set[Status]] = {
    Status.DRAFT: {Status.SUBMITTED, Status.CANCELLED},
    Status.SUBMITTED: {Status.APPROVED, Status.CANCELLED},
    Status.APPROVED: {Status.COMMITTED, Status.CANCELLED},
    Status.COMMITTED: {Status.SHIPPED, Status.CANCELLED},
    Status.SHIPPED: {Status.RECEIVED},
    Status.RECEIVED: set(),
    Status.CANCELLED: set(),
}
#: fractional items are allocated in thousandths (the quantities' three decimals)
MILLI = Decimal("0.001")


def now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- reading


def get(session: Session, request_id: str, reach: Reach) -> Request:
    """The request, when the caller's reach covers its shelter; otherwise the same 404
    as for an unknown id (a shelter learns nothing of other shelters' requests)."""
    request = session.get(Request, request_id)
    if request is None or not _covers(reach, request):
        raise NotFound(f"要請 {request_id} はありません / no request {request_id}")
    return request


def _covers(reach: Reach, request: Request) -> bool:
    return reach.everywhere or (request.shelter_id is not None and reach.covers(request.shelter_id))


def lock(session: Session, request_ids: Iterable[str]) -> None:
    """Lock these requests' rows until the transaction ends, and read them again as
    locked: each step of a request (a transition, a commitment, a dispatch, a receipt)
    takes it first, so the same step sent twice at once runs once and the second sees
    the first's outcome. Sorted, so two desks never wait for each other crosswise."""
    session.execute(
        select(Request.id)
        .where(Request.id.in_(sorted(set(request_ids))))
        .order_by(Request.id)
        .with_for_update()
    ).all()
    # the rows as the lock found them, not copies loaded before it
    session.execute(
        select(Request)
        .where(Request.id.in_(sorted(set(request_ids))))
        .execution_options(populate_existing=True)
    ).all()


def listed(
    session: Session, reach: Reach, *, status: Status | None = None, limit: int = 200
) -> list[Request]:
    query = select(Request).order_by(Request.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(Request.status == status.value)
    if not reach.everywhere:
        query = query.where(Request.shelter_id.in_(reach.places))
    return list(session.execute(query).scalars())


def lines_of(session: Session, request_ids: Sequence[str]) -> dict[str, list[RequestLine]]:
    found: dict[str, list[RequestLine]] = defaultdict(list)
    if not request_ids:
        return found
    rows = session.execute(
        select(RequestLine)
        .where(RequestLine.request_id.in_(list(request_ids)))
        .order_by(RequestLine.id)
    ).scalars()
    for line in rows:
        found[line.request_id].append(line)
    return found


def allocations_of(session: Session, request_ids: Sequence[str]) -> dict[str, list[Allocation]]:
    found: dict[str, list[Allocation]] = defaultdict(list)
    if not request_ids:
        return found
    rows = session.execute(
        select(Allocation)
        .where(Allocation.request_id.in_(list(request_ids)))
        .order_by(Allocation.id)
    ).scalars()
    for allocation in rows:
        found[allocation.request_id].append(allocation)
    return found


# --------------------------------------------------------------------------- drafting


@dataclass(frozen=True)
class Created:
    request: Request
    #: False when the client's id was recorded already with the same content (a resend)
    created: bool


def content_digest(body: RequestIn, shelter_id: str) -> str:
    """What makes a new request what it is (the shelter as its id, the time as an
    instant, quantities as numbers): the same form sent again has the same digest."""
    sent = {
        "shelter": shelter_id,
        "needed_by": body.needed_by.astimezone(UTC).isoformat() if body.needed_by else None,
        "note": body.note,
        "submit": body.submit,
        "lines": [
            {
                "item": line.item,
                "quantity": _number(line.quantity),
                "vulnerable": _number(line.vulnerable),
                "kit": line.kit,
                "count": line.count,
            }
            for line in body.lines
        ],
    }
    canonical = json.dumps(sent, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _number(quantity: Decimal | None) -> str | None:
    return None if quantity is None else f"{quantity.normalize():f}"


def _resent(stored: Request | None, digest: str, reach: Reach) -> Request:
    """The request already made under the client's id, when this is a resend of it."""
    if stored is None or stored.content_digest != digest or not _covers(reach, stored):
        raise Conflict(
            "この要請IDは内容の違う要請に使われています / this request id was used for a "
            "request with other content"
        )
    return stored


def create(session: Session, body: RequestIn, reach: Reach, *, actor: str) -> Created:
    """A new request, or, for a resend of the client's id with the same content, the
    request it made (whatever happened to it since); other content under that id: 409."""
    shelter = places.shelter(session, body.shelter, reach)
    digest = content_digest(body, shelter.id)
    if body.id is not None:
        stored = session.get(Request, body.id)
        if stored is not None:
            return Created(_resent(stored, digest, reach), created=False)
    if not shelter.active:
        raise Conflict(f"{shelter.code} は使われていない場所です / {shelter.code} is retired")
    at = now()
    request = Request(
        origin=Origin.SHELTER.value,
        shelter_id=shelter.id,
        status=Status.DRAFT.value,
        needed_by=body.needed_by,
        note=body.note,
        created_at=at,
        created_by=actor,
        updated_at=at,
        content_digest=digest if body.id is not None else "",
    )
    if body.id is not None:
        request.id = body.id
    session.add(request)
    try:
        session.flush()
    except IntegrityError:
        # the same id sent twice at once (the other one committed first: answer as for a
        # resend), or an id another municipality's request holds: never ours to take
        session.rollback()
        return Created(_resent(session.get(Request, body.id), digest, reach), created=False)
    add_lines(session, request, body.lines)
    _audit(session, request, actor, "supplies.request_create", {"shelter": shelter.code})
    if body.submit:
        transition(session, request, Status.SUBMITTED, actor=actor)
    return Created(request, created=True)


def add_lines(session: Session, request: Request, lines: Iterable[LineIn]) -> None:
    """Add (or add to) the request's lines; a kit adds a line per item it holds. Unknown
    items, fractions of whole-unit items and vulnerable shares over the line are refused
    before anything is written."""
    if Status(request.status) != Status.DRAFT:
        raise Conflict("下書きの要請だけ変更できます / only a draft request can be changed")
    wanted: dict[str, tuple[Item, Decimal, Decimal]] = {}
    for line in lines:
        for item, quantity, vulnerable in _expanded(session, line):
            check_whole(
                quantity, whole_units=item.whole_units, item_code=item.code, unit=item.unit_ja
            )
            check_whole(
                vulnerable, whole_units=item.whole_units, item_code=item.code, unit=item.unit_ja
            )
            _, before, before_vulnerable = wanted.get(item.id, (item, Decimal(0), Decimal(0)))
            wanted[item.id] = (item, before + quantity, before_vulnerable + vulnerable)
    existing = {line.item_id: line for line in lines_of(session, [request.id])[request.id]}
    for item_id, (_, quantity, vulnerable) in wanted.items():
        found = existing.get(item_id)
        if found is None:
            session.add(
                RequestLine(
                    request_id=request.id,
                    item_id=item_id,
                    requested=quantity,
                    vulnerable=vulnerable,
                    short=quantity,
                )
            )
        else:
            found.requested += quantity
            found.vulnerable += vulnerable
            found.short = found.requested
    request.updated_at = now()
    session.flush()


def _expanded(session: Session, line: LineIn) -> list[tuple[Item, Decimal, Decimal]]:
    if line.item is not None and line.quantity is not None:
        return [
            (catalogue.by_code(session, line.item), line.quantity, line.vulnerable or Decimal(0))
        ]
    kit = kit_by_code(session, line.kit or "")
    return [
        (
            catalogue.get(session, kit_item.item_id),
            kit_item.quantity * (line.count or 0),
            Decimal(0),
        )
        for kit_item in kit_items(session, kit.id)
    ]


def transition(
    session: Session, request: Request, to: Status, *, actor: str, reason: str = ""
) -> Request:
    """Move the request to `to` when its lifecycle allows; 409 otherwise."""
    lock(session, [request.id])
    current = Status(request.status)
    if to not in NEXT[current]:
        raise Conflict(
            f"要請は {current.value} から {to.value} にできません / a {current.value} request "
            f"cannot become {to.value}"
        )
    at = now()
    if to == Status.SUBMITTED:
        if not lines_of(session, [request.id])[request.id]:
            raise Conflict("明細のない要請は提出できません / a request needs lines to be submitted")
        request.submitted_at = at
    elif to == Status.APPROVED:
        request.approved_at, request.approved_by = at, actor
    elif to == Status.CANCELLED:
        _refuse_with_goods_on_the_road(session, request)
        _release(session, request)
        request.cancelled_at, request.cancelled_by, request.cancel_reason = at, actor, reason
    request.status = to.value
    request.updated_at = at
    _audit(session, request, actor, f"supplies.request_{to.value}", {"from": current.value})
    return request


def _refuse_with_goods_on_the_road(session: Session, request: Request) -> None:
    """A request partly shipped is still committed, but while one of its shipments is
    on the road it cannot be cancelled: the goods would arrive for a cancelled request.
    The shipment is turned back (cancelled) first, or received."""
    on_the_road = session.execute(
        select(func.count())
        .select_from(Shipment)
        .where(
            Shipment.request_id == request.id,
            Shipment.status == ShipmentStatus.DISPATCHED.value,
        )
    ).scalar_one()
    if on_the_road:
        raise Conflict(
            f"この要請の荷が {on_the_road} 件出荷中です。先に出荷を取り消すか受領してください / "
            f"{on_the_road} shipment(s) of this request are on the road: turn them back "
            "(cancel) or receive them first"
        )


def _release(session: Session, request: Request) -> None:
    """Give back what a cancelled request held: its unshipped picks (row by row, so the
    change log carries each delete)."""
    for allocation in allocations_of(session, [request.id])[request.id]:
        if allocation.shipment_id is None:
            session.delete(allocation)
    for line in lines_of(session, [request.id])[request.id]:
        line.committed = line.shipped
        line.short = line.requested - line.committed
    session.flush()


# --------------------------------------------------------------------------- allocation


@dataclass(frozen=True)
class Suggested:
    """A rules.Suggestion with the request's rows beside it (for the API and commits)."""

    request: Request
    line: RequestLine
    item: Item
    suggestion: rules.Suggestion
    scale: Decimal  # one unit of the suggestion's integers, in the item's unit


def available_lots(session: Session) -> list[rules.Lot]:
    """What the depots can give: each lot's balance at each active depot, less what
    commitments already hold and have not shipped; expired lots are never offered."""
    today = local_date(now())
    held = {
        (place_id, lot_id): quantity
        for place_id, lot_id, quantity in session.execute(
            select(Allocation.place_id, Allocation.lot_id, func.sum(Allocation.quantity))
            .where(Allocation.shipment_id.is_(None))
            .group_by(Allocation.place_id, Allocation.lot_id)
        ).all()
    }
    rows = session.execute(
        select(StockBalance, Item)
        .join(Place, Place.id == StockBalance.place_id)
        .join(Item, Item.id == StockBalance.item_id)
        .where(
            Place.kind.in_(DEPOT_KINDS),
            Place.active.is_(True),
            StockBalance.quantity > 0,
            (StockBalance.expires_on.is_(None)) | (StockBalance.expires_on >= today),
        )
    ).all()
    lots = []
    for balance, item in rows:
        free = balance.quantity - Decimal(held.get((balance.place_id, balance.lot_id), 0))
        if free > 0:
            lots.append(
                rules.Lot(
                    lot_id=balance.lot_id,
                    depot_id=balance.place_id,
                    item_id=balance.item_id,
                    quantity=_units(free, item, down=True),
                    expires=balance.expires_on,
                )
            )
    return lots


def suggest(session: Session, request_ids: Sequence[str] | None = None) -> list[Suggested]:
    """The allocation suggestion over every approved request (or those named): stock is
    shared among all of them, so proportions and priorities hold across shelters."""
    query = select(Request).where(Request.status == Status.APPROVED.value)
    if request_ids is not None:
        query = query.where(Request.id.in_(list(request_ids)))
    requests = {r.id: r for r in session.execute(query.order_by(Request.id)).scalars()}
    if request_ids is not None and set(request_ids) - set(requests):
        missing = sorted(set(request_ids) - set(requests))[0]
        raise Conflict(
            f"要請 {missing} は承認済みではありません / request {missing} is not approved"
        )
    lines = lines_of(session, list(requests))
    all_places = {p.id: p for p in session.execute(select(Place)).scalars()}
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    needs, context = [], {}
    for request_id, request_lines in lines.items():
        request = requests[request_id]
        shelter = all_places.get(request.shelter_id or "")
        welfare = shelter is not None and shelter.kind == PlaceKind.WELFARE_SHELTER.value
        for line in request_lines:
            open_quantity = line.requested - line.committed
            if open_quantity <= 0:
                continue
            item = items[line.item_id]
            # everyone at a 福祉避難所 belongs to a vulnerable group
            vulnerable = open_quantity if welfare else min(line.vulnerable, open_quantity)
            needs.append(
                rules.Need(
                    line_id=line.id,
                    shelter_id=request.shelter_id or f"tenant:{request.requester_tenant}",
                    item_id=line.item_id,
                    quantity=_units(open_quantity, item, down=False),
                    vulnerable=_units(vulnerable, item, down=False),
                )
            )
            context[line.id] = (request, line, item)
    shelters = {
        place.id: _point(place)
        for place in all_places.values()
        if not PlaceKind(place.kind).is_depot
    }
    depots = {
        place.id: rules.Depot(place.id, place.name, _point(place))
        for place in all_places.values()
        if PlaceKind(place.kind).is_depot
    }
    out = []
    for suggestion in rules.suggest(
        needs, available_lots(session), shelters=shelters, depots=depots
    ):
        request, line, item = context[suggestion.line_id]
        out.append(Suggested(request, line, item, suggestion, scale_of(item)))
    return out


def commit(session: Session, body: CommitIn, reach: Reach, *, actor: str) -> list[Request]:
    """Hold stock for approved requests: the suggestion as it stands, or the picks staff
    chose instead (checked against the same free stock: never more than a lot holds)."""
    lock(session, body.requests)
    suggested = suggest(session, body.requests)
    by_line = {s.line.id: s for s in suggested}
    lots = available_lots(session)
    free = {(lot.depot_id, lot.lot_id): lot for lot in lots}
    picks: list[tuple[Suggested, str, str, Decimal, str, str]] = []
    if body.accept_suggestion:
        for s in suggested:
            for pick in s.suggestion.picks:
                reach.check(pick.depot_id)
                picks.append(
                    (
                        s,
                        pick.depot_id,
                        pick.lot_id,
                        pick.quantity * s.scale,
                        s.suggestion.rule.value,
                        s.suggestion.explanation,
                    )
                )
    else:
        for given in body.picks:
            chosen = by_line.get(given.line)
            if chosen is None:
                raise InvalidInput(
                    f"明細 {given.line} は引当の対象ではありません / line {given.line} is not "
                    "an open line of these requests"
                )
            place = places.get(session, given.place, reach)
            check_whole(
                given.quantity,
                whole_units=chosen.item.whole_units,
                item_code=chosen.item.code,
                unit=chosen.item.unit_ja,
            )
            lot = free.get((place.id, given.lot))
            if lot is None or lot.item_id != chosen.item.id:
                raise InvalidInput(
                    f"{place.code} にロット {given.lot} の {chosen.item.code} の在庫はありません / "
                    f"{place.code} holds no free stock of {chosen.item.code} in lot {given.lot}"
                )
            picks.append((chosen, place.id, given.lot, given.quantity, "staff", _changed(chosen)))
        rules.check_plan(
            [
                rules.PlannedPick(
                    s.line.id, s.item.id, f"{place_id}/{lot_id}", _units(q, s.item, down=False)
                )
                for s, place_id, lot_id, q, _, _ in picks
            ],
            [
                rules.Lot(
                    f"{lot.depot_id}/{lot.lot_id}",
                    lot.depot_id,
                    lot.item_id,
                    lot.quantity,
                    lot.expires,
                )
                for lot in lots
            ],
            open_quantity={
                s.line.id: _units(s.line.requested - s.line.committed, s.item, down=False)
                for s in suggested
            },
        )
    _still_free(
        session, [(place_id, lot_id, quantity) for _, place_id, lot_id, quantity, *_ in picks]
    )
    at = now()
    committed_lines: dict[str, Decimal] = defaultdict(Decimal)
    for s, place_id, lot_id, quantity, rule, explanation in picks:
        session.add(
            Allocation(
                request_id=s.request.id,
                line_id=s.line.id,
                place_id=place_id,
                item_id=s.item.id,
                lot_id=lot_id,
                quantity=quantity,
                rule=rule,
                explanation=explanation,
            )
        )
        committed_lines[s.line.id] += quantity
    for s in suggested:
        s.line.committed += committed_lines.get(s.line.id, Decimal(0))
        s.line.short = s.line.requested - s.line.committed
    requests = {s.request.id: s.request for s in suggested}
    for request_id in body.requests:
        request = requests.get(request_id) or get(session, request_id, reach)
        transition(session, request, Status.COMMITTED, actor=actor)
        request.committed_at, request.committed_by = at, actor
    session.flush()
    return [requests.get(rid) or get(session, rid, reach) for rid in body.requests]


def _still_free(session: Session, picks: list[tuple[str, str, Decimal]]) -> None:
    """Check the picks against the lots as they are now, their balances locked: the free
    stock was read before, and another commitment of the same lots may have landed since
    (it held the locks until it committed). Never more held than a lot has: 409."""
    wanted: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for place_id, lot_id, quantity in picks:
        wanted[(place_id, lot_id)] += quantity
    if not wanted:
        return
    balances = stock.locked_balances(session, set(wanted))
    held = {
        (place_id, lot_id): quantity
        for place_id, lot_id, quantity in session.execute(
            select(Allocation.place_id, Allocation.lot_id, func.sum(Allocation.quantity))
            .where(
                Allocation.shipment_id.is_(None),
                Allocation.lot_id.in_(sorted({lot_id for _, lot_id in wanted})),
            )
            .group_by(Allocation.place_id, Allocation.lot_id)
        ).all()
    }
    for key, quantity in wanted.items():
        balance = balances.get(key)
        on_hand = balance.quantity if balance is not None else Decimal(0)
        if Decimal(held.get(key, 0)) + quantity > on_hand:
            raise Conflict(
                "引当の間に在庫が変わりました（他の引当・払出）。配分案を読み直してください / "
                "the stock changed meanwhile (another commitment or movement): read the "
                "suggestion again"
            )


def _changed(s: Suggested) -> str:
    return (
        f"職員が変更（提案: {s.suggestion.allocated * s.scale}） / changed by staff (the "
        f"suggestion was {s.suggestion.allocated * s.scale}). {s.suggestion.explanation}"
    )


def _units(quantity: Decimal, item: Item, *, down: bool) -> int:
    """A quantity as the allocation's integers: whole units, or thousandths for items
    counted with fractions. Free stock rounds down (never promise what is not there)."""
    scaled = quantity / scale_of(item)
    return int(scaled) if down else int(scaled.to_integral_value())


def scale_of(item: Item) -> Decimal:
    """One unit of the allocation's integers, in the item's unit."""
    return Decimal(1) if item.whole_units else MILLI


def _point(place: Place) -> rules.Point | None:
    if place.latitude is None or place.longitude is None:
        return None
    return rules.Point(place.latitude, place.longitude)


# --------------------------------------------------------------------------- kits


def kit_by_code(session: Session, code: str) -> Kit:
    kit = session.execute(select(Kit).where(Kit.code == code)).scalar_one_or_none()
    if kit is None:
        raise InvalidInput(f"セット {code} はありません / no kit {code}")
    return kit


def kit_items(session: Session, kit_id: str) -> list[KitItem]:
    return list(
        session.execute(
            select(KitItem).where(KitItem.kit_id == kit_id).order_by(KitItem.id)
        ).scalars()
    )


def kits(session: Session) -> list[Kit]:
    return list(session.execute(select(Kit).order_by(Kit.code)).scalars())


def add_kit(session: Session, body: KitIn, *, actor: str) -> Kit:
    if session.execute(select(Kit).where(Kit.code == body.code)).scalar_one_or_none():
        raise Conflict(f"セット {body.code} は登録済みです / kit {body.code} exists")
    contents: dict[str, Decimal] = defaultdict(Decimal)
    for line in body.items:
        item = catalogue.by_code(session, line.item)
        check_whole(
            line.quantity, whole_units=item.whole_units, item_code=item.code, unit=item.unit_ja
        )
        contents[item.id] += line.quantity
    kit = Kit(code=body.code, name=body.name, created_by=actor)
    session.add(kit)
    session.flush()
    for item_id, quantity in contents.items():
        session.add(KitItem(kit_id=kit.id, item_id=item_id, quantity=quantity))
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="supplies.kit_add",
        subject_type="supplies_kit",
        subject_id=kit.id,
        detail={"code": kit.code},
    )
    return kit


def _audit(
    session: Session, request: Request, actor: str, action: str, detail: dict[str, str]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type="supplies_request",
        subject_id=request.id,
        detail=detail,
    )
