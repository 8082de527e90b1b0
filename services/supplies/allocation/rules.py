"""Who gets what when there is not enough: the allocation rules as plain functions.

No framework and no database: the caller hands in what is needed (open request lines),
what is in stock (lots at depots) and where everyone is; the answer is one suggestion
per line, each with the rule that produced it, in words staff read (日本語 / English).
Staff confirm or change a suggestion; `check_plan` tells whether a changed plan still
fits the stock.

The rules, per item:

1. Enough stock for every line: each line gets what it asked for.
2. Short, but enough for the vulnerable shares (要配慮者分: infants, the elderly,
   pregnant women, people with allergies or medical needs): every vulnerable share is
   served in full first; what is left is shared among the other shares in proportion
   to their size.
3. Short even for the vulnerable shares: the stock is shared among the vulnerable shares
   in proportion to their size; the other shares get nothing this round.

"In proportion" is the largest-remainder method (Hamilton): each share gets the floor
of its exact quota, and the units left go one each to the largest fractional parts
(ties: the larger share, then the line id), so every line gets its quota rounded down
or up and the whole stock is handed out.

Where it comes from: each line is picked from the depot nearest its shelter that still
has the item (great-circle distance; a place without coordinates is farthest), and
inside a depot from the lot that expires first (no expiry last). Lines with a
vulnerable share pick first, then the rest, each in line-id order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from yui.errors import InvalidInput

__all__ = [
    "Depot",
    "Lot",
    "Need",
    "Pick",
    "PlannedPick",
    "Point",
    "Rule",
    "Suggestion",
    "check_plan",
    "distance_km",
    "largest_remainder",
    "suggest",
]


@dataclass(frozen=True, slots=True)
class Point:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Need:
    """One open request line: ``quantity`` still to allocate, ``vulnerable`` of it for
    vulnerable groups (0 ≤ vulnerable ≤ quantity)."""

    line_id: str
    shelter_id: str
    item_id: str
    quantity: int
    vulnerable: int = 0


@dataclass(frozen=True, slots=True)
class Lot:
    """What is on hand of one lot at one depot (the stock ledger's balance)."""

    lot_id: str
    depot_id: str
    item_id: str
    quantity: int
    expires: date | None = None


@dataclass(frozen=True, slots=True)
class Depot:
    depot_id: str
    name: str
    location: Point | None = None


class Rule(StrEnum):
    FULL = "full"  # 在庫が足りる: 全量
    VULNERABLE_FIRST = "vulnerable_first"  # 要配慮者分を全量、残りを比例配分
    VULNERABLE_ONLY = "vulnerable_only"  # 要配慮者分にも足りない: 要配慮者分だけ比例配分
    NO_STOCK = "no_stock"  # 在庫なし


@dataclass(frozen=True, slots=True)
class Pick:
    depot_id: str
    lot_id: str
    quantity: int
    expires: date | None
    #: None when the shelter or the depot has no coordinates
    distance_km: float | None


@dataclass(frozen=True, slots=True)
class Suggestion:
    line_id: str
    shelter_id: str
    item_id: str
    requested: int
    vulnerable: int
    allocated: int
    picks: tuple[Pick, ...]
    rule: Rule
    #: the rule in words, 日本語 / English, with this line's numbers
    explanation: str


@dataclass(frozen=True, slots=True)
class PlannedPick:
    """One pick of a plan as staff confirmed or changed it."""

    line_id: str
    item_id: str
    lot_id: str
    quantity: int


def distance_km(a: Point | None, b: Point | None) -> float | None:
    """Great-circle distance (haversine, mean Earth radius); None without coordinates."""
    if a is None or b is None:
        return None
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def largest_remainder(total: int, weights: Sequence[int], keys: Sequence[str]) -> list[int]:
    """``total`` units shared in proportion to ``weights`` (Hamilton's method): each gets
    floor or ceil of its exact quota, and the shares add up to min(total, sum(weights))."""
    weight_sum = sum(weights)
    if weight_sum == 0 or total <= 0:
        return [0] * len(weights)
    if total >= weight_sum:
        return list(weights)
    shares = []
    remainders = []
    given = 0
    for index, weight in enumerate(weights):
        base, remainder = divmod(total * weight, weight_sum)
        shares.append(base)
        given += base
        if remainder:
            remainders.append((-remainder, -weight, keys[index], index))
    left = total - given
    if left:
        remainders.sort()
        for _, _, _, index in remainders[:left]:
            shares[index] += 1
    return shares


def suggest(
    needs: Iterable[Need],
    lots: Iterable[Lot],
    *,
    shelters: Mapping[str, Point | None],
    depots: Mapping[str, Depot],
) -> list[Suggestion]:
    """One suggestion per need, in the order given (see the module's docstring)."""
    needs = list(needs)
    for need in needs:
        _check_need(need)
    by_item: dict[str, list[Need]] = defaultdict(list)
    for need in needs:
        by_item[need.item_id].append(need)
    lots_by_item: dict[str, list[Lot]] = defaultdict(list)
    for lot in lots:
        if lot.quantity < 0:
            raise InvalidInput(
                f"ロット {lot.lot_id} の在庫が負です / lot {lot.lot_id} has negative stock"
            )
        if lot.depot_id not in depots:
            raise InvalidInput(
                f"ロット {lot.lot_id} の拠点 {lot.depot_id} が不明です / lot {lot.lot_id} is at an "
                f"unknown depot {lot.depot_id}"
            )
        if lot.quantity:
            lots_by_item[lot.item_id].append(lot)

    depot_order = _DepotOrder(shelters, depots)
    results: dict[str, Suggestion] = {}
    for item_id, item_needs in by_item.items():
        item_lots = lots_by_item.get(item_id, [])
        stock = sum(lot.quantity for lot in item_lots)
        amounts, rule, demand, vulnerable = _amounts(item_needs, stock)
        wording = _Wording(rule, stock, demand, vulnerable, depots)
        picker = _Picker(item_lots, depot_order)
        order = sorted(
            range(len(item_needs)),
            key=lambda i: (item_needs[i].vulnerable == 0, item_needs[i].line_id),
        )
        for index in order:
            need = item_needs[index]
            amount = amounts[index]
            picks = picker.pick(need.shelter_id, amount)
            results[need.line_id] = Suggestion(
                line_id=need.line_id,
                shelter_id=need.shelter_id,
                item_id=item_id,
                requested=need.quantity,
                vulnerable=need.vulnerable,
                allocated=amount,
                picks=picks,
                rule=rule,
                explanation=wording.line(need, amount, picks),
            )
    return [results[need.line_id] for need in needs]


def check_plan(
    plan: Iterable[PlannedPick],
    lots: Iterable[Lot],
    *,
    open_quantity: Mapping[str, int],
) -> None:
    """Refuse (InvalidInput) a plan that takes more of a lot than it holds, takes a lot
    of another item, or gives a line more than it still asks for."""
    on_hand = {lot.lot_id: lot for lot in lots}
    taken: dict[str, int] = defaultdict(int)
    per_line: dict[str, int] = defaultdict(int)
    for pick in plan:
        if pick.quantity <= 0:
            raise InvalidInput("数量は 1 以上です / a pick's quantity must be at least 1")
        lot = on_hand.get(pick.lot_id)
        if lot is None or lot.item_id != pick.item_id:
            raise InvalidInput(
                f"ロット {pick.lot_id} にこの品目の在庫はありません / lot {pick.lot_id} holds "
                f"no stock of item {pick.item_id}"
            )
        taken[pick.lot_id] += pick.quantity
        per_line[pick.line_id] += pick.quantity
    for lot_id, quantity in taken.items():
        if quantity > on_hand[lot_id].quantity:
            raise InvalidInput(
                f"ロット {lot_id} の在庫 {on_hand[lot_id].quantity} を超えます（{quantity}） / "
                f"more than lot {lot_id} holds ({quantity} of {on_hand[lot_id].quantity})"
            )
    for line_id, quantity in per_line.items():
        asked = open_quantity.get(line_id)
        if asked is None:
            raise InvalidInput(f"明細 {line_id} はありません / no open line {line_id}")
        if quantity > asked:
            raise InvalidInput(
                f"明細 {line_id} の要求 {asked} を超えます（{quantity}） / more than line "
                f"{line_id} asks for ({quantity} of {asked})"
            )


# --------------------------------------------------------------------------- internals


def _check_need(need: Need) -> None:
    if need.quantity < 0 or not 0 <= need.vulnerable <= need.quantity:
        raise InvalidInput(
            f"明細 {need.line_id}: 数量は 0 以上、要配慮者分は数量以下です / line "
            f"{need.line_id}: quantities are non-negative and the vulnerable share is at most "
            "the quantity"
        )


def _amounts(needs: Sequence[Need], stock: int) -> tuple[list[int], Rule, int, int]:
    """Each line's amount, the rule, the item's whole need and its vulnerable need."""
    demand = sum(need.quantity for need in needs)
    vulnerable = sum(need.vulnerable for need in needs)
    keys = [need.line_id for need in needs]
    if stock >= demand:
        return [need.quantity for need in needs], Rule.FULL, demand, vulnerable
    if stock == 0:
        return [0] * len(needs), Rule.NO_STOCK, demand, vulnerable
    if stock >= vulnerable:
        general = [need.quantity - need.vulnerable for need in needs]
        shares = largest_remainder(stock - vulnerable, general, keys)
        amounts = [need.vulnerable + share for need, share in zip(needs, shares, strict=True)]
        return amounts, Rule.VULNERABLE_FIRST, demand, vulnerable
    shares = largest_remainder(stock, [need.vulnerable for need in needs], keys)
    return shares, Rule.VULNERABLE_ONLY, demand, vulnerable


class _DepotOrder:
    """Depots by distance from each shelter (computed once per shelter)."""

    def __init__(self, shelters: Mapping[str, Point | None], depots: Mapping[str, Depot]) -> None:
        self.shelters = shelters
        self.depots = depots
        self._orders: dict[str, list[tuple[str, float | None]]] = {}

    def of(self, shelter_id: str) -> list[tuple[str, float | None]]:
        order = self._orders.get(shelter_id)
        if order is None:
            here = self.shelters.get(shelter_id)
            distances = [
                (depot_id, distance_km(here, depot.location))
                for depot_id, depot in self.depots.items()
            ]
            distances.sort(key=lambda d: (d[1] is None, d[1] or 0.0, d[0]))
            order = self._orders[shelter_id] = distances
        return order


class _Picker:
    """Takes one item's stock, nearest depot first, earliest expiry first inside it."""

    def __init__(self, lots: Sequence[Lot], order: _DepotOrder) -> None:
        self.order = order
        #: per depot its lots in expiry order, and what each still holds (same positions)
        self.lots: dict[str, list[Lot]] = defaultdict(list)
        self.on_hand: dict[str, list[int]] = defaultdict(list)
        for lot in sorted(lots, key=lambda lot: (lot.expires is None, lot.expires, lot.lot_id)):
            self.lots[lot.depot_id].append(lot)
            self.on_hand[lot.depot_id].append(lot.quantity)
        self.left = {depot: sum(held) for depot, held in self.on_hand.items()}

    def pick(self, shelter_id: str, amount: int) -> tuple[Pick, ...]:
        if amount <= 0:
            return ()
        picks: list[Pick] = []
        for depot_id, distance in self.order.of(shelter_id):
            if not self.left.get(depot_id):
                continue
            held = self.on_hand[depot_id]
            for position, lot in enumerate(self.lots[depot_id]):
                if not held[position]:
                    continue
                take = min(held[position], amount)
                held[position] -= take
                self.left[depot_id] -= take
                amount -= take
                picks.append(Pick(depot_id, lot.lot_id, take, lot.expires, distance))
                if not amount:
                    return tuple(picks)
        # unreachable: the amounts never exceed the item's stock, and every lot's depot is known
        raise AssertionError(f"{amount} left unpicked")


class _Wording:
    """The words of one item's rule (built once per item), and a line's sentence."""

    def __init__(
        self, rule: Rule, stock: int, demand: int, vulnerable: int, depots: Mapping[str, Depot]
    ) -> None:
        self.depots = depots
        self._labels: dict[tuple[str, float | None], str] = {}
        self._dates: dict[date | None, str] = {}
        if rule == Rule.FULL:
            self.ja, self.en = "在庫が足りるため全量", "enough stock: in full"
        elif rule == Rule.NO_STOCK:
            self.ja = f"在庫なし（需要 {demand}）: 配分 0"
            self.en = f"no stock (need {demand}): nothing allocated"
        elif rule == Rule.VULNERABLE_FIRST:
            self.ja = (
                f"在庫不足（在庫 {stock}、需要 {demand}）: 要配慮者分 {vulnerable} を先に全量、"
                f"残り {stock - vulnerable} を一般分の需要に比例して配分"
            )
            self.en = (
                f"short (stock {stock}, need {demand}): the vulnerable shares ({vulnerable}) "
                f"first in full, the remaining {stock - vulnerable} in proportion to the other need"
            )
        else:
            self.ja = (
                f"在庫が要配慮者分にも不足（在庫 {stock}、要配慮者分 {vulnerable}）: 要配慮者分の"
                "需要に比例して配分、一般分は今回 0"
            )
            self.en = (
                f"short even for the vulnerable shares (stock {stock}, vulnerable need "
                f"{vulnerable}): shared in proportion to the vulnerable shares, none for the "
                "rest this round"
            )

    def line(self, need: Need, amount: int, picks: Sequence[Pick]) -> str:
        got = f"{amount}/{need.quantity}, 要配慮者分 vulnerable {need.vulnerable}"
        if not picks:
            return f"{self.ja}（{got}） / {self.en} ({got})"
        sources = ", ".join([self._source(pick) for pick in picks])
        return (
            f"{self.ja}（{got}）。出荷元: 在庫のある最寄りの拠点から、期限の早いロット順 / "
            f"{self.en} ({got}); from the nearest depot with stock, earliest expiry first: "
            f"{sources}"
        )

    def _source(self, pick: Pick) -> str:
        # one label per depot and distance, one text per expiry date: the same few
        # depots and dates recur on thousands of lines
        label = self._labels.get((pick.depot_id, pick.distance_km))
        if label is None:
            depot = self.depots.get(pick.depot_id)
            name = depot.name if depot is not None else pick.depot_id
            where = "" if pick.distance_km is None else f" {pick.distance_km:.1f} km"
            label = self._labels[(pick.depot_id, pick.distance_km)] = f"{name}{where}: "
        expires = self._dates.get(pick.expires)
        if expires is None:
            expires = "" if pick.expires is None else f" ~{pick.expires.isoformat()}"
            self._dates[pick.expires] = expires
        return f"{label}{pick.quantity}{expires}"
