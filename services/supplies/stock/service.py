"""The stock ledger: recording movements, picking first-expired-first-out, stock levels.

Every change of stock is a movement written through `record`, which checks the
movement's shape (signs by kind, a transfer's lines out and in balance per lot), then
the new balance of every (place, lot) it touches — locked for the transaction — and
refuses the whole movement, writing nothing, when one would fall below zero. The
balances are changed in the same unit of work as the ledger's lines, so they commit,
replicate and roll back together; `verify_balances` recomputes them from the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from supplies.access import Reach
from supplies.catalogue import service as catalogue
from supplies.catalogue.models import Item
from supplies.places import service as places
from supplies.places.models import Place
from supplies.quantities import check_whole
from supplies.requests.models import Allocation
from supplies.stock.models import (
    AdjustmentReason,
    Lot,
    Movement,
    MovementKind,
    MovementLine,
    StockBalance,
)
from supplies.stock.schemas import (
    AdjustmentIn,
    IssueIn,
    MovementFields,
    PickLineIn,
    ReceiptIn,
    TransferIn,
)
from yui.audit import service as audit
from yui.errors import Conflict, InvalidInput, NotFound

#: expiry dates are local dates of the municipality (all in Japan)
LOCAL = ZoneInfo("Asia/Tokyo")
#: how far ahead of this site's clock a movement's time may be (a tablet's clock runs fast)
CLOCK_SKEW = timedelta(minutes=5)
#: the sign each adjustment reason allows: -1 removes, +1 adds, 0 either (a count)
REASON_SIGN = {
    AdjustmentReason.DAMAGED: -1,
    AdjustmentReason.EXPIRED: -1,
    AdjustmentReason.LOST: -1,
    AdjustmentReason.FOUND: 1,
    AdjustmentReason.STOCK_COUNT: 0,
}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Delta:
    """One line to be: a signed quantity of one lot at one place."""

    place_id: str
    item_id: str
    lot_id: str
    expires_on: date | None
    quantity: Decimal


@dataclass(frozen=True)
class Recorded:
    movement: Movement
    #: False when the id was recorded already (a resend): nothing new was written
    created: bool


def check_shape(kind: MovementKind, reason: AdjustmentReason | None, deltas: list[Delta]) -> None:
    """A movement's lines as its kind requires: receipts add, issues remove, a transfer
    takes from one place what it puts into another (per lot: the sum is zero), an
    adjustment goes the way its reason says."""
    if not deltas:
        raise InvalidInput("移動に明細がありません / a movement needs at least one line")
    if any(delta.quantity == 0 for delta in deltas):
        raise InvalidInput("数量 0 の明細があります / a line moves nothing")
    if (kind == MovementKind.ADJUSTMENT) != (reason is not None):
        raise InvalidInput("調整には理由が必要です / an adjustment, and only one, has a reason")
    signs = {delta.quantity > 0 for delta in deltas}
    if kind == MovementKind.RECEIPT and signs != {True}:
        raise InvalidInput("受入は増やすだけです / a receipt only adds")
    if kind == MovementKind.ISSUE and signs != {False}:
        raise InvalidInput("払出は減らすだけです / an issue only removes")
    if reason is not None and REASON_SIGN[reason] and signs != {REASON_SIGN[reason] > 0}:
        raise InvalidInput(
            f"調整理由 {reason.value} に合わない増減です / the lines go the wrong way for "
            f"{reason.value}"
        )
    if kind == MovementKind.TRANSFER:
        by_lot: defaultdict[str, Decimal] = defaultdict(Decimal)
        for delta in deltas:
            by_lot[delta.lot_id] += delta.quantity
        if any(total != 0 for total in by_lot.values()):
            raise InvalidInput("移送の出と入りが合いません / a transfer's lines do not balance")
        if len({delta.place_id for delta in deltas}) != 2:
            raise InvalidInput("移送は 2 か所の間です / a transfer is between two places")


def locked_balances(
    session: Session, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], StockBalance]:
    """The balances of these (place, lot) pairs, locked until the transaction ends (two
    movements of the same lot queue instead of both reading the old quantity), in one
    order (place, then lot) so that two writers never wait for each other crosswise."""
    found: dict[tuple[str, str], StockBalance] = {}
    by_place: defaultdict[str, set[str]] = defaultdict(set)
    for place_id, lot_id in keys:
        by_place[place_id].add(lot_id)
    for place_id, lots in sorted(by_place.items()):
        rows = session.execute(
            select(StockBalance)
            .where(StockBalance.place_id == place_id, StockBalance.lot_id.in_(sorted(lots)))
            .order_by(StockBalance.lot_id)
            .with_for_update()
            # the rows as locked, not copies loaded before (a pick, the free stock)
            .execution_options(populate_existing=True)
        ).scalars()
        for balance in rows:
            found[(balance.place_id, balance.lot_id)] = balance
    return found


def held_by_commitments(
    session: Session, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Decimal]:
    """What unshipped commitments (requests' allocations) hold of these (place, lot) pairs:
    stock set aside for a request, not to be handed out or moved otherwise."""
    if not keys:
        return {}
    rows = session.execute(
        select(Allocation.place_id, Allocation.lot_id, func.sum(Allocation.quantity))
        .where(
            Allocation.shipment_id.is_(None),
            Allocation.place_id.in_(sorted({place for place, _ in keys})),
            Allocation.lot_id.in_(sorted({lot for _, lot in keys})),
        )
        .group_by(Allocation.place_id, Allocation.lot_id)
    ).all()
    return {(place, lot): Decimal(q) for place, lot, q in rows if (place, lot) in keys}


def record(
    session: Session,
    kind: MovementKind,
    deltas: list[Delta],
    *,
    actor: str,
    reason: AdjustmentReason | None = None,
    occurred_at: datetime | None = None,
    movement_id: str | None = None,
    reference: str = "",
    note: str = "",
) -> Movement:
    """Write one movement and move the balances, or refuse it whole (nothing written)."""
    check_shape(kind, reason, deltas)
    totals: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    expiry: dict[str, date | None] = {}
    items: dict[str, str] = {}
    for delta in deltas:
        totals[(delta.place_id, delta.lot_id)] += delta.quantity
        expiry[delta.lot_id], items[delta.lot_id] = delta.expires_on, delta.item_id
    balances = locked_balances(session, set(totals))
    for key, change in totals.items():
        held = balances[key].quantity if key in balances else Decimal(0)
        if held + change < 0:
            raise Conflict(
                f"在庫が足りません（ロット {key[1]}: 在庫 {held}、必要 {-change}） / not enough "
                f"stock (lot {key[1]}: {held} held, {-change} needed)",
                place=key[0],
                lot=key[1],
            )
    if kind in (MovementKind.ISSUE, MovementKind.TRANSFER):
        # handing out or moving away what a commitment holds would leave the request's
        # dispatch short; losses (adjustments) still leave, as they happen
        taking = {key for key, change in totals.items() if change < 0}
        for key, committed in held_by_commitments(session, taking).items():
            on_hand = balances[key].quantity
            if on_hand + totals[key] < committed:
                raise Conflict(
                    f"引当済みの在庫です（ロット {key[1]}: 在庫 {on_hand}、うち引当 {committed}） / "
                    f"held by commitments (lot {key[1]}: {on_hand} on hand, {committed} held)",
                    place=key[0],
                    lot=key[1],
                )
    recorded_at = now()
    movement = Movement(
        kind=kind.value,
        reason=reason.value if reason else "",
        occurred_at=occurred_at or recorded_at,
        recorded_at=recorded_at,
        recorded_by=actor,
        reference=reference,
        note=note,
    )
    if movement_id:
        movement.id = movement_id
    session.add(movement)
    session.flush()
    for delta in deltas:
        session.add(
            MovementLine(
                movement_id=movement.id,
                place_id=delta.place_id,
                item_id=delta.item_id,
                lot_id=delta.lot_id,
                quantity=delta.quantity,
            )
        )
    for (place_id, lot_id), change in totals.items():
        balance = balances.get((place_id, lot_id))
        if balance is None:
            session.add(
                StockBalance(
                    place_id=place_id,
                    item_id=items[lot_id],
                    lot_id=lot_id,
                    expires_on=expiry[lot_id],
                    quantity=change,
                )
            )
        else:
            balance.quantity = balance.quantity + change
    session.flush()
    return movement


# -- what the routes call ------------------------------------------------------------------


def _occurred(fields: MovementFields) -> datetime:
    at = fields.occurred_at.astimezone(UTC) if fields.occurred_at else now()
    if at > now() + CLOCK_SKEW:
        raise InvalidInput("移動の時刻が未来です / the movement's time is in the future")
    return at


def _resend(session: Session, fields: MovementFields, kind: MovementKind) -> Movement | None:
    """The movement already recorded under the client's id, when this is a resend."""
    if fields.id is None:
        return None
    stored = session.get(Movement, fields.id)
    if stored is None:
        return None
    if stored.kind != kind.value:
        raise Conflict(
            "この移動IDは別の移動に使われています / this movement id was used for another"
        )
    return stored


def _working_place(session: Session, ref: str, reach: Reach) -> Place:
    place = places.get(session, ref, reach)
    if not place.active:
        raise Conflict(f"{place.code} は使われていない場所です / {place.code} is retired")
    return place


def _item(session: Session, code: str, quantity: Decimal) -> Item:
    item = catalogue.by_code(session, code)
    check_whole(quantity, whole_units=item.whole_units, item_code=item.code, unit=item.unit_ja)
    return item


def _lot_for_receipt(
    session: Session, item: Item, expires_on: date | None, lot_code: str, source: str
) -> Lot:
    """The lot this receipt adds to: the same item, maker's lot and expiry, or a new one."""
    same_expiry = Lot.expires_on.is_(None) if expires_on is None else Lot.expires_on == expires_on
    lot = session.execute(
        select(Lot)
        .where(Lot.item_id == item.id, Lot.lot_code == lot_code, same_expiry)
        .order_by(Lot.created_at)
        .limit(1)
    ).scalar_one_or_none()
    if lot is None:
        lot = Lot(
            item_id=item.id,
            lot_code=lot_code,
            expires_on=expires_on,
            source=source,
            created_at=now(),
        )
        session.add(lot)
        session.flush()
    return lot


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL).date()


def pick(
    session: Session, place_id: str, item: Item, quantity: Decimal, *, on: date
) -> list[tuple[StockBalance, Decimal]]:
    """First expired, first out: take `quantity` of `item` at the place from the lots with
    the earliest expiry that has not passed by `on` (lots that never expire last).
    An expired lot is never picked: it leaves by an `expired` adjustment."""
    balances = list(
        session.execute(
            select(StockBalance)
            .where(
                StockBalance.place_id == place_id,
                StockBalance.item_id == item.id,
                StockBalance.quantity > 0,
                (StockBalance.expires_on.is_(None)) | (StockBalance.expires_on >= on),
            )
            .order_by(StockBalance.expires_on.asc().nulls_last(), StockBalance.lot_id)
        ).scalars()
    )
    # what commitments hold is not picked: it waits for its request's dispatch
    committed = held_by_commitments(session, {(place_id, b.lot_id) for b in balances})
    picked: list[tuple[StockBalance, Decimal]] = []
    remaining = quantity
    for balance in balances:
        free = balance.quantity - committed.get((place_id, balance.lot_id), Decimal(0))
        if free <= 0:
            continue
        take = min(free, remaining)
        picked.append((balance, take))
        remaining -= take
        if remaining == 0:
            return picked
    available = quantity - remaining
    raise Conflict(
        f"{item.code} の在庫が足りません（期限内で引当のない分 {available}{item.unit_ja}、必要 "
        f"{quantity}） / not enough {item.code} in date and not held by commitments "
        f"({available} {item.unit_en}, {quantity} needed)",
        item=item.code,
        available=str(available),
    )


def _picked_lines(
    session: Session, place: Place, line: PickLineIn, on: date
) -> list[tuple[str, str, date | None, Decimal]]:
    """(item, lot, expiry, quantity) taken out of the place for one line."""
    item = _item(session, line.item, line.quantity)
    if line.lot is None:
        return [
            (item.id, balance.lot_id, balance.expires_on, take)
            for balance, take in pick(session, place.id, item, line.quantity, on=on)
        ]
    lot = session.get(Lot, line.lot)
    if lot is None or lot.item_id != item.id:
        raise InvalidInput(f"ロット {line.lot} は {item.code} のものではありません / no such lot")
    return [(item.id, lot.id, lot.expires_on, line.quantity)]


def _audit(session: Session, movement: Movement, actor: str, places: list[Place]) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"supplies.{movement.kind}",
        subject_type="supplies_movement",
        subject_id=movement.id,
        detail={"places": [place.code for place in places], "reason": movement.reason},
    )


def receive(session: Session, body: ReceiptIn, reach: Reach, *, actor: str) -> Recorded:
    stored = _resend(session, body, MovementKind.RECEIPT)
    if stored is not None:
        return Recorded(stored, created=False)
    at = _occurred(body)
    place = _working_place(session, body.place, reach)
    deltas = []
    for line in body.lines:
        item = _item(session, line.item, line.quantity)
        lot = _lot_for_receipt(session, item, line.expires_on, line.lot_code, body.source)
        deltas.append(Delta(place.id, item.id, lot.id, lot.expires_on, line.quantity))
    movement = record(
        session,
        MovementKind.RECEIPT,
        deltas,
        actor=actor,
        occurred_at=at,
        movement_id=body.id,
        reference=body.reference,
        note=body.note,
    )
    _audit(session, movement, actor, [place])
    return Recorded(movement, created=True)


def issue(session: Session, body: IssueIn, reach: Reach, *, actor: str) -> Recorded:
    stored = _resend(session, body, MovementKind.ISSUE)
    if stored is not None:
        return Recorded(stored, created=False)
    at = _occurred(body)
    place = _working_place(session, body.place, reach)
    deltas = [
        Delta(place.id, item_id, lot_id, expires_on, -quantity)
        for line in body.lines
        for item_id, lot_id, expires_on, quantity in _picked_lines(
            session, place, line, local_date(at)
        )
    ]
    movement = record(
        session,
        MovementKind.ISSUE,
        deltas,
        actor=actor,
        occurred_at=at,
        movement_id=body.id,
        reference=body.reference,
        note=body.note,
    )
    _audit(session, movement, actor, [place])
    return Recorded(movement, created=True)


def transfer(session: Session, body: TransferIn, reach: Reach, *, actor: str) -> Recorded:
    """Move stock from a place the caller works to any active place (a depot ships to
    every shelter), earliest expiry first unless a lot is named."""
    stored = _resend(session, body, MovementKind.TRANSFER)
    if stored is not None:
        return Recorded(stored, created=False)
    at = _occurred(body)
    source = _working_place(session, body.from_place, reach)
    target = _working_place(session, body.to_place, Reach(everywhere=True, places=frozenset()))
    if source.id == target.id:
        raise InvalidInput("移送元と移送先が同じです / a transfer goes to another place")
    deltas: list[Delta] = []
    for line in body.lines:
        for item_id, lot_id, expires_on, quantity in _picked_lines(
            session, source, line, local_date(at)
        ):
            deltas.append(Delta(source.id, item_id, lot_id, expires_on, -quantity))
            deltas.append(Delta(target.id, item_id, lot_id, expires_on, quantity))
    movement = record(
        session,
        MovementKind.TRANSFER,
        deltas,
        actor=actor,
        occurred_at=at,
        movement_id=body.id,
        reference=body.reference,
        note=body.note,
    )
    _audit(session, movement, actor, [source, target])
    return Recorded(movement, created=True)


def adjust(session: Session, body: AdjustmentIn, reach: Reach, *, actor: str) -> Recorded:
    stored = _resend(session, body, MovementKind.ADJUSTMENT)
    if stored is not None:
        return Recorded(stored, created=False)
    at = _occurred(body)
    place = _working_place(session, body.place, reach)
    sign = REASON_SIGN[body.reason]
    deltas: list[Delta] = []
    for line in body.lines:
        item = _item(session, line.item, line.quantity)
        if line.lot is None:
            if body.reason != AdjustmentReason.FOUND:
                raise InvalidInput(
                    "この調整にはロットの指定が必要です / name the lot this adjustment changes"
                )
            lot = _lot_for_receipt(session, item, line.expires_on, line.lot_code, "found")
        else:
            found = session.get(Lot, line.lot)
            if found is None or found.item_id != item.id:
                raise InvalidInput(
                    f"ロット {line.lot} は {item.code} のものではありません / no such lot"
                )
            lot = found
        if sign:
            if line.quantity == 0:
                raise InvalidInput("数量 0 の明細があります / a line moves nothing")
            change = line.quantity * sign
        else:
            held = session.execute(
                select(StockBalance.quantity).where(
                    StockBalance.place_id == place.id, StockBalance.lot_id == lot.id
                )
            ).scalar_one_or_none()
            change = line.quantity - (held or Decimal(0))
            if change == 0:
                continue  # counted what the ledger says: nothing to adjust
        deltas.append(Delta(place.id, item.id, lot.id, lot.expires_on, change))
    if not deltas:
        raise Conflict("棚卸の数量は帳簿と同じです / the count matches the ledger: nothing to do")
    movement = record(
        session,
        MovementKind.ADJUSTMENT,
        deltas,
        actor=actor,
        reason=body.reason,
        occurred_at=at,
        movement_id=body.id,
        reference=body.reference,
        note=body.note,
    )
    _audit(session, movement, actor, [place])
    return Recorded(movement, created=True)


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    place_id: str
    place_code: str
    item_id: str
    item_code: str
    name_ja: str
    name_en: str
    unit_ja: str
    quantity: Decimal
    earliest_expiry: date | None
    lots: int


@cache
def _levels_statement(by_place: bool, by_item: bool) -> Select[tuple[Any, ...]]:
    """The stock-levels query, built once per filter shape (building a statement costs as
    much as running it on a small answer): the balances summed per place and item, then
    joined to the place's code and the item's names."""
    summed = select(
        StockBalance.place_id,
        StockBalance.item_id,
        func.sum(StockBalance.quantity).label("quantity"),
        func.min(StockBalance.expires_on).label("earliest"),
        func.count().label("lots"),
    ).where(StockBalance.quantity > 0)
    if by_place:
        summed = summed.where(StockBalance.place_id.in_(bindparam("place_ids", expanding=True)))
    if by_item:
        summed = summed.where(StockBalance.item_id.in_(bindparam("item_ids", expanding=True)))
    totals = summed.group_by(StockBalance.place_id, StockBalance.item_id).subquery()
    return (
        select(
            totals.c.place_id,
            Place.code,
            totals.c.item_id,
            Item.code,
            Item.name_ja,
            Item.name_en,
            Item.unit_ja,
            totals.c.quantity,
            totals.c.earliest,
            totals.c.lots,
        )
        .join(Place, Place.id == totals.c.place_id)
        .join(Item, Item.id == totals.c.item_id)
        .order_by(Place.code, Item.code)
    )


def levels(
    session: Session, *, place_ids: list[str] | None = None, item_ids: list[str] | None = None
) -> list[Level]:
    """Stock per place and item, from the balances (one grouped query, no ledger scan)."""
    parameters: dict[str, list[str]] = {}
    if place_ids is not None:
        parameters["place_ids"] = place_ids
    if item_ids is not None:
        parameters["item_ids"] = item_ids
    statement = _levels_statement(place_ids is not None, item_ids is not None)
    return [
        Level(place, place_code, item, code, name_ja, name_en, unit, Decimal(total), earliest, n)
        for place, place_code, item, code, name_ja, name_en, unit, total, earliest, n in (
            session.execute(statement, parameters)
        )
    ]


def lots_at(session: Session, place_id: str) -> list[tuple[StockBalance, Lot, Item]]:
    """Every lot held at a place, earliest expiry first."""
    rows = session.execute(
        select(StockBalance, Lot, Item)
        .join(Lot, Lot.id == StockBalance.lot_id)
        .join(Item, Item.id == StockBalance.item_id)
        .where(StockBalance.place_id == place_id, StockBalance.quantity > 0)
        .order_by(Item.code, StockBalance.expires_on.asc().nulls_last(), Lot.id)
    )
    return [(balance, lot, item) for balance, lot, item in rows]


def movement(session: Session, movement_id: str) -> Movement:
    found = session.get(Movement, movement_id)
    if found is None:
        raise NotFound(f"移動 {movement_id} はありません / no movement {movement_id}")
    return found


def lines_of(
    session: Session, movement_ids: list[str]
) -> dict[str, list[tuple[MovementLine, Item, Lot]]]:
    rows = session.execute(
        select(MovementLine, Item, Lot)
        .join(Item, Item.id == MovementLine.item_id)
        .join(Lot, Lot.id == MovementLine.lot_id)
        .where(MovementLine.movement_id.in_(movement_ids))
        .order_by(MovementLine.place_id, Item.code, Lot.id)
    )
    out: defaultdict[str, list[tuple[MovementLine, Item, Lot]]] = defaultdict(list)
    for line, item, lot in rows:
        out[line.movement_id].append((line, item, lot))
    return out


def ledger(
    session: Session, *, place_ids: list[str] | None = None, limit: int = 100
) -> list[Movement]:
    """The latest movements (touching one of `place_ids`, when given), newest first."""
    query = select(Movement).order_by(Movement.occurred_at.desc(), Movement.id.desc())
    if place_ids is not None:
        query = query.where(
            Movement.id.in_(
                select(MovementLine.movement_id).where(MovementLine.place_id.in_(place_ids))
            )
        )
    return list(session.execute(query.limit(limit)).scalars())


@dataclass(frozen=True)
class Mismatch:
    place_id: str
    lot_id: str
    kept: Decimal
    ledger: Decimal


def verify_balances(session: Session) -> tuple[int, list[Mismatch]]:
    """Recompute every balance from the ledger and compare: (balances, mismatches)."""
    from_ledger = {
        (place_id, lot_id): total
        for place_id, lot_id, total in session.execute(
            select(
                MovementLine.place_id, MovementLine.lot_id, func.sum(MovementLine.quantity)
            ).group_by(MovementLine.place_id, MovementLine.lot_id)
        )
    }
    kept = {
        (place_id, lot_id): quantity
        for place_id, lot_id, quantity in session.execute(
            select(StockBalance.place_id, StockBalance.lot_id, StockBalance.quantity)
        )
    }
    mismatches = [
        Mismatch(key[0], key[1], kept.get(key, Decimal(0)), from_ledger.get(key, Decimal(0)))
        for key in sorted(set(from_ledger) | set(kept))
        if Decimal(kept.get(key, 0)) != Decimal(from_ledger.get(key, 0))
    ]
    return len(kept), mismatches
