"""Dispatching committed picks, receiving them (in part, with discrepancy reports), and
unsolicited donation offers. Every stock effect is a movement written by the stock
module's ledger functions (`stock.service.record`, `stock.service.receive`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supplies.access import Reach
from supplies.catalogue import service as catalogue
from supplies.catalogue.models import Item
from supplies.places import service as places
from supplies.places.models import PlaceKind
from supplies.quantities import check_whole
from supplies.requests import service as requests
from supplies.requests.models import Origin, Request, RequestLine, Status
from supplies.shipments.models import (
    Discrepancy,
    DiscrepancyKind,
    DonationLine,
    DonationOffer,
    OfferStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from supplies.shipments.schemas import DispatchIn, DonationIn, DonationReceiptIn, ReceiptIn
from supplies.stock import schemas as stock_schemas
from supplies.stock import service as stock
from supplies.stock.models import AdjustmentReason, Lot, MovementKind
from yui.audit import service as audit
from yui.errors import Conflict, InvalidInput, NotFound

#: the ledger adjustment each discrepancy makes at the destination
ADJUSTMENT_OF = {
    DiscrepancyKind.SHORT: AdjustmentReason.LOST,
    DiscrepancyKind.DAMAGED: AdjustmentReason.DAMAGED,
    DiscrepancyKind.OVER: AdjustmentReason.FOUND,
}


def now() -> datetime:
    return datetime.now(UTC)


def get(session: Session, shipment_id: str, reach: Reach) -> Shipment:
    """A shipment the caller may see: staff and auditors any; a depot account those from
    its depots, a shelter account those to its shelters (else the same 404)."""
    shipment = session.get(Shipment, shipment_id)
    if shipment is None or not (
        reach.covers(shipment.from_place_id)
        or (shipment.to_place_id is not None and reach.covers(shipment.to_place_id))
    ):
        raise NotFound(f"出荷 {shipment_id} はありません / no shipment {shipment_id}")
    return shipment


def _locked(session: Session, shipment_id: str, reach: Reach) -> Shipment:
    """The shipment, its request's row locked first (every step of a request takes it:
    the same receipt sent twice at once is recorded once) and read again as locked."""
    shipment = get(session, shipment_id, reach)
    requests.lock(session, [shipment.request_id])
    session.refresh(shipment)
    return shipment


def of_request(session: Session, request_id: str) -> list[Shipment]:
    return list(
        session.execute(
            select(Shipment).where(Shipment.request_id == request_id).order_by(Shipment.departed_at)
        ).scalars()
    )


def lines_of(session: Session, shipment_id: str) -> list[ShipmentLine]:
    return list(
        session.execute(
            select(ShipmentLine)
            .where(ShipmentLine.shipment_id == shipment_id)
            .order_by(ShipmentLine.id)
        ).scalars()
    )


def discrepancies_of(session: Session, shipment_id: str) -> list[Discrepancy]:
    return list(
        session.execute(
            select(Discrepancy)
            .where(Discrepancy.shipment_id == shipment_id)
            .order_by(Discrepancy.reported_at, Discrepancy.id)
        ).scalars()
    )


def dispatch(
    session: Session, request_id: str, body: DispatchIn, reach: Reach, *, actor: str
) -> Shipment:
    """Send what the request holds at one depot: one ledger movement moves it out (a
    transfer to the shelter; an issue when it leaves for another municipality)."""
    request = requests.get(session, request_id, Reach(everywhere=True, places=frozenset()))
    # the dispatch pressed twice at once: the second waits here and finds nothing held
    requests.lock(session, [request.id])
    if Status(request.status) != Status.COMMITTED:
        raise Conflict(
            f"引当済みの要請だけ出荷できます（現在 {request.status}） / only a committed request "
            f"ships (this one is {request.status})"
        )
    depot = places.get(session, body.from_place, reach)
    held = [
        allocation
        for allocation in requests.allocations_of(session, [request.id])[request.id]
        if allocation.shipment_id is None and allocation.place_id == depot.id
    ]
    if not held:
        raise Conflict(
            f"{depot.code} から出荷するものはありません / nothing of this request is held at "
            f"{depot.code}"
        )
    at = body.departed_at or now()
    shipment = Shipment(
        request_id=request.id,
        from_place_id=depot.id,
        to_place_id=request.shelter_id,
        to_tenant=request.requester_tenant,
        status=ShipmentStatus.DISPATCHED.value,
        vehicle=body.vehicle,
        driver=body.driver,
        driver_phone=body.driver_phone,
        departed_at=at,
        expected_at=body.expected_at,
        dispatched_by=actor,
        note=body.note,
    )
    session.add(shipment)
    session.flush()
    lots = {
        lot.id: lot
        for lot in session.execute(
            select(Lot).where(Lot.id.in_([a.lot_id for a in held]))
        ).scalars()
    }
    leaves = request.origin == Origin.MUNICIPALITY.value or request.shelter_id is None
    for allocation in held:
        # no longer held: the goods leave with this shipment (the ledger's check of
        # what commitments hold counts only the unshipped)
        allocation.shipment_id = shipment.id
    session.flush()
    deltas = []
    for allocation in held:
        lot = lots[allocation.lot_id]
        deltas.append(
            stock.Delta(depot.id, allocation.item_id, lot.id, lot.expires_on, -allocation.quantity)
        )
        if not leaves:
            deltas.append(
                stock.Delta(
                    request.shelter_id or "",
                    allocation.item_id,
                    lot.id,
                    lot.expires_on,
                    allocation.quantity,
                )
            )
    movement = stock.record(
        session,
        MovementKind.ISSUE if leaves else MovementKind.TRANSFER,
        deltas,
        actor=actor,
        occurred_at=at,
        reference=f"shipment:{shipment.id}",
        note=body.note,
    )
    shipment.movement_id = movement.id
    lines = {line.id: line for line in requests.lines_of(session, [request.id])[request.id]}
    for allocation in held:
        lines[allocation.line_id].shipped += allocation.quantity
        session.add(
            ShipmentLine(
                shipment_id=shipment.id,
                request_line_id=allocation.line_id,
                item_id=allocation.item_id,
                lot_id=allocation.lot_id,
                shipped=allocation.quantity,
            )
        )
    session.flush()
    if all(
        a.shipment_id is not None
        for a in requests.allocations_of(session, [request.id])[request.id]
    ):
        requests.transition(session, request, Status.SHIPPED, actor=actor)
        # goods for another municipality stay "shipped" here: their arrival is
        # recorded on the receiving municipality's side
        request.shipped_at = at
    _audit(session, shipment, actor, "supplies.shipment_dispatch", {"depot": depot.code})
    return shipment


def receive(
    session: Session, shipment_id: str, body: ReceiptIn, reach: Reach, *, actor: str
) -> Shipment:
    """What arrived, per line. A line that differs from what was shipped needs its
    discrepancy (short or damaged below, over above), and each discrepancy is a ledger
    adjustment at the shelter, so its stock is what arrived. Refused whole, nothing
    written, for a cancelled or already received shipment or a missing report."""
    shipment = _locked(session, shipment_id, reach)
    if shipment.to_place_id is None or not reach.covers(shipment.to_place_id):
        raise NotFound(f"出荷 {shipment_id} はありません / no shipment {shipment_id}")
    status = ShipmentStatus(shipment.status)
    if status == ShipmentStatus.CANCELLED:
        raise Conflict("取り消された出荷は受領できません / a cancelled shipment cannot be received")
    if status == ShipmentStatus.RECEIVED:
        raise Conflict("この出荷は受領済みです / this shipment is already received")
    lines = {line.id: line for line in lines_of(session, shipment.id)}
    reported: dict[str, tuple[Decimal, DiscrepancyKind | None, str]] = {}
    for given in body.lines:
        line = lines.get(given.line)
        if line is None:
            raise InvalidInput(
                f"明細 {given.line} はこの出荷にありません / line {given.line} is not on this "
                "shipment"
            )
        if given.line in reported:
            raise InvalidInput(f"明細 {given.line} が 2 回あります / line {given.line} twice")
        item = catalogue.get(session, line.item_id)
        check_whole(
            given.received, whole_units=item.whole_units, item_code=item.code, unit=item.unit_ja
        )
        kind = given.discrepancy.kind if given.discrepancy else None
        check_receipt(line.shipped, given.received, kind)
        reported[given.line] = (
            given.received,
            kind,
            given.discrepancy.note if given.discrepancy else "",
        )
    at = body.arrived_at or now()
    if at < shipment.departed_at:
        raise InvalidInput("到着が出発より前です / arrival before departure")
    adjustments: dict[
        AdjustmentReason, list[tuple[ShipmentLine, Decimal, DiscrepancyKind, str]]
    ] = defaultdict(list)
    request_lines = {
        line.id: line
        for line in requests.lines_of(session, [shipment.request_id])[shipment.request_id]
    }
    for line in lines.values():
        received, kind, note = reported.get(line.id, (line.shipped, None, ""))
        line.received = received
        request_lines[line.request_line_id].received += received
        if kind is not None:
            adjustments[ADJUSTMENT_OF[kind]].append(
                (line, abs(line.shipped - received), kind, note)
            )
    for reason, entries in adjustments.items():
        sign = Decimal(1) if reason == AdjustmentReason.FOUND else Decimal(-1)
        lots = {
            lot.id: lot
            for lot in session.execute(
                select(Lot).where(Lot.id.in_([line.lot_id for line, *_ in entries]))
            ).scalars()
        }
        movement = stock.record(
            session,
            MovementKind.ADJUSTMENT,
            [
                stock.Delta(
                    shipment.to_place_id,
                    line.item_id,
                    line.lot_id,
                    lots[line.lot_id].expires_on,
                    sign * quantity,
                )
                for line, quantity, _, _ in entries
            ],
            actor=actor,
            reason=reason,
            occurred_at=at,
            reference=f"shipment:{shipment.id}",
        )
        for line, quantity, kind, note in entries:
            session.add(
                Discrepancy(
                    shipment_id=shipment.id,
                    shipment_line_id=line.id,
                    kind=kind.value,
                    quantity=quantity,
                    note=note,
                    reported_by=actor,
                    reported_at=at,
                    movement_id=movement.id,
                )
            )
    shipment.status = ShipmentStatus.RECEIVED.value
    shipment.arrived_at, shipment.received_by = at, actor
    session.flush()
    request = session.get(Request, shipment.request_id)
    assert request is not None
    _settle(session, request, request_lines, at, actor)
    _audit(
        session,
        shipment,
        actor,
        "supplies.shipment_receive",
        {"discrepancies": str(sum(len(entries) for entries in adjustments.values()))},
    )
    return shipment


def check_receipt(shipped: Decimal, received: Decimal, kind: DiscrepancyKind | None) -> None:
    """The receipt rule: received equals shipped, or the difference has its report — short
    or damaged when less arrived, over when more did."""
    if received == shipped:
        if kind is not None:
            raise InvalidInput(
                "出荷量どおりなら差異の報告は不要です / no discrepancy when the amount matches"
            )
        return
    if kind is None:
        raise InvalidInput(
            f"出荷 {shipped} と受領 {received} が違います: 差異の報告が必要です / {received} "
            f"received of {shipped} shipped: report the discrepancy (short, damaged or over)"
        )
    if received > shipped and kind != DiscrepancyKind.OVER:
        raise InvalidInput("出荷より多いときは over / more than shipped is reported as over")
    if received < shipped and kind == DiscrepancyKind.OVER:
        raise InvalidInput(
            "出荷より少ないときは short か damaged / less than shipped is short or damaged"
        )


def _settle(
    session: Session,
    request: Request,
    lines: dict[str, RequestLine],
    at: datetime,
    actor: str,
) -> None:
    """When every shipment of a shipped request has arrived, it is received; what is
    short is then what was asked and did not arrive."""
    if Status(request.status) != Status.SHIPPED:
        return
    shipments = of_request(session, request.id)
    if any(ShipmentStatus(s.status) == ShipmentStatus.DISPATCHED for s in shipments):
        return
    for line in lines.values():
        line.short = max(Decimal(0), line.requested - line.received)
    requests.transition(session, request, Status.RECEIVED, actor=actor)
    request.received_at = at


def cancel(session: Session, shipment_id: str, reach: Reach, *, actor: str) -> Shipment:
    """A shipment turned back before it arrived: the goods return to the depot (the
    reverse transfer) and are held for the request again."""
    shipment = _locked(session, shipment_id, reach)
    if ShipmentStatus(shipment.status) != ShipmentStatus.DISPATCHED:
        raise Conflict(
            f"{shipment.status} の出荷は取り消せません / a {shipment.status} shipment cannot be "
            "cancelled"
        )
    if shipment.to_place_id is None:
        raise Conflict(
            "他の自治体へ出た荷は取り消せません / goods sent to another municipality cannot be "
            "called back here"
        )
    request = session.get(Request, shipment.request_id)
    assert request is not None
    lines = lines_of(session, shipment.id)
    lots = {
        lot.id: lot
        for lot in session.execute(
            select(Lot).where(Lot.id.in_([line.lot_id for line in lines]))
        ).scalars()
    }
    deltas = []
    for line in lines:
        expires = lots[line.lot_id].expires_on
        deltas.append(
            stock.Delta(shipment.to_place_id, line.item_id, line.lot_id, expires, -line.shipped)
        )
        deltas.append(
            stock.Delta(shipment.from_place_id, line.item_id, line.lot_id, expires, line.shipped)
        )
    stock.record(
        session,
        MovementKind.TRANSFER,
        deltas,
        actor=actor,
        reference=f"shipment:{shipment.id}:cancel",
    )
    request_lines = {line.id: line for line in requests.lines_of(session, [request.id])[request.id]}
    for line in lines:
        request_lines[line.request_line_id].shipped -= line.shipped
    for allocation in requests.allocations_of(session, [request.id])[request.id]:
        if allocation.shipment_id == shipment.id:
            allocation.shipment_id = None
    shipment.status = ShipmentStatus.CANCELLED.value
    if Status(request.status) == Status.SHIPPED:
        # back to committed: its picks are held again, to be shipped anew
        request.status = Status.COMMITTED.value
        request.shipped_at = None
    session.flush()
    _audit(session, shipment, actor, "supplies.shipment_cancel", {})
    return shipment


# --------------------------------------------------------------------------- donations


_OTHER_OFFER = (
    "この申し出IDは内容の違う申し出に使われています / this offer id was used for an offer with "
    "other content"
)


@dataclass(frozen=True)
class Offered:
    offer: DonationOffer
    #: False when the client's id was recorded already with the same content (a resend)
    created: bool


def _same_offer(
    session: Session, stored: DonationOffer | None, body: DonationIn, goods: list[Goods]
) -> DonationOffer:
    """The offer already recorded under the client's id, when this is a resend of it (an
    offer's donor and lines never change, so they are compared as they are)."""
    sent = sorted((item.id, quantity.normalize(), expires) for item, quantity, expires in goods)
    if stored is None or (stored.donor, stored.contact, stored.note) != (
        body.donor,
        body.contact,
        body.note,
    ):
        raise Conflict(_OTHER_OFFER)
    kept = sorted(
        (line.item_id, line.quantity.normalize(), line.expires_on)
        for line in donation_lines(session, stored.id)
    )
    if kept != sent:
        raise Conflict(_OTHER_OFFER)
    return stored


#: one line of an offer's goods: the item, how much, its expiry
Goods = tuple[Item, Decimal, date | None]


def _goods(session: Session, body: DonationIn) -> list[Goods]:
    """The offer's lines, a kit as a line per item it holds; unknown items or kits and
    fractions of whole-unit items are refused before anything is written."""
    goods: list[Goods] = []
    for line in body.lines:
        if line.kit is not None:
            kit = requests.kit_by_code(session, line.kit)
            for held in requests.kit_items(session, kit.id):
                item = catalogue.get(session, held.item_id)
                goods.append((item, held.quantity * (line.count or 0), line.expires_on))
            continue
        item = catalogue.by_code(session, line.item or "")
        quantity = line.quantity or Decimal(0)
        check_whole(quantity, whole_units=item.whole_units, item_code=item.code, unit=item.unit_ja)
        goods.append((item, quantity, line.expires_on))
    return goods


def offer(session: Session, body: DonationIn, *, actor: str) -> Offered:
    """Record an offer, or, for a resend of the client's id with the same content, answer
    the offer it recorded (whatever was decided since); other content under that id: 409."""
    goods = _goods(session, body)
    if body.id is not None:
        stored = session.get(DonationOffer, body.id)
        if stored is not None:
            return Offered(_same_offer(session, stored, body, goods), created=False)
    donation = DonationOffer(
        donor=body.donor,
        contact=body.contact,
        status=OfferStatus.OFFERED.value,
        note=body.note,
        offered_at=now(),
        recorded_by=actor,
    )
    if body.id is not None:
        donation.id = body.id
    session.add(donation)
    try:
        session.flush()
    except IntegrityError:
        # the same id sent twice at once (the other one committed first), or an id another
        # municipality's offer holds: never ours to take
        session.rollback()
        stored = session.get(DonationOffer, body.id)
        return Offered(_same_offer(session, stored, body, goods), created=False)
    for item, quantity, expires in goods:
        session.add(
            DonationLine(
                offer_id=donation.id, item_id=item.id, quantity=quantity, expires_on=expires
            )
        )
    session.flush()
    _audit_offer(session, donation, actor, "supplies.donation_offer")
    return Offered(donation, created=True)


def donation(session: Session, offer_id: str) -> DonationOffer:
    found = session.get(DonationOffer, offer_id)
    if found is None:
        raise NotFound(f"寄付の申し出 {offer_id} はありません / no donation offer {offer_id}")
    return found


def donation_lines(session: Session, offer_id: str) -> list[DonationLine]:
    return list(
        session.execute(
            select(DonationLine).where(DonationLine.offer_id == offer_id).order_by(DonationLine.id)
        ).scalars()
    )


def donations(session: Session) -> list[DonationOffer]:
    return list(
        session.execute(select(DonationOffer).order_by(DonationOffer.offered_at.desc())).scalars()
    )


def decide(
    session: Session, offer_id: str, accept: bool, note: str, *, actor: str
) -> DonationOffer:
    found = donation(session, offer_id)
    if OfferStatus(found.status) != OfferStatus.OFFERED:
        raise Conflict(f"この申し出は {found.status} です / this offer is {found.status}")
    found.status = (OfferStatus.ACCEPTED if accept else OfferStatus.DECLINED).value
    found.decided_at, found.decided_by, found.decision_note = now(), actor, note
    _audit_offer(session, found, actor, f"supplies.donation_{found.status}")
    return found


def receive_donation(
    session: Session, offer_id: str, body: DonationReceiptIn, reach: Reach, *, actor: str
) -> DonationOffer:
    """Accepted goods arrive at a depot: one ledger receipt (the stock module's)."""
    found = donation(session, offer_id)
    if OfferStatus(found.status) != OfferStatus.ACCEPTED:
        raise Conflict(
            f"受入決定した申し出だけ受け入れます（現在 {found.status}） / only an accepted offer "
            f"is received (this one is {found.status})"
        )
    place = places.get(session, body.place, reach)
    if not PlaceKind(place.kind).is_depot:
        raise InvalidInput(f"{place.code} は拠点ではありません / {place.code} is not a depot")
    items = {item.id: item for item in catalogue.listed(session)}
    recorded = stock.receive(
        session,
        stock_schemas.ReceiptIn(
            place=place.id,
            source=f"寄付 / donation: {found.donor}"[:200],
            reference=f"donation:{found.id}",
            note=body.note,
            lines=[
                stock_schemas.ReceiptLineIn(
                    item=items[line.item_id].code,
                    quantity=line.quantity,
                    expires_on=line.expires_on,
                )
                for line in donation_lines(session, found.id)
            ],
        ),
        reach,
        actor=actor,
    )
    found.status = OfferStatus.RECEIVED.value
    found.movement_id = recorded.movement.id
    _audit_offer(session, found, actor, "supplies.donation_received")
    return found


def _audit(
    session: Session, shipment: Shipment, actor: str, action: str, detail: dict[str, str]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type="supplies_shipment",
        subject_id=shipment.id,
        detail={"request": shipment.request_id, **detail},
    )


def _audit_offer(session: Session, found: DonationOffer, actor: str, action: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type="supplies_donation",
        subject_id=found.id,
        detail={"status": found.status},
    )
