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

import gc
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple, NoReturn, cast

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


# Pick and Suggestion are named tuples, not frozen dataclasses: an allocation builds
# ~100,000 of each, and a frozen dataclass's __init__ costs five times a tuple's
class Pick(NamedTuple):
    depot_id: str
    lot_id: str
    quantity: int
    expires: date | None
    #: None when the shelter or the depot has no coordinates
    distance_km: float | None


class Suggestion(NamedTuple):
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
    # positions of each item's lines in `needs`, so the answer is filled in place
    by_item: dict[str, list[int]] = defaultdict(list)
    for position, need in enumerate(needs):
        if need.quantity < 0 or not 0 <= need.vulnerable <= need.quantity:
            _refuse_need(need)
        by_item[need.item_id].append(position)
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
    results: list[Suggestion | None] = [None] * len(needs)
    # the answer is ~100,000 small objects with no cycles among them: reference counting
    # frees them, and the cyclic collector's passes over the growing heap cost a third of
    # the time (bench/allocation.py), so it is paused while they are built
    with _cyclic_gc_paused():
        for item_id, positions in by_item.items():
            item_needs = [needs[position] for position in positions]
            item_lots = lots_by_item.get(item_id, [])
            stock = sum(lot.quantity for lot in item_lots)
            amounts, rule, demand, vulnerable = _amounts(item_needs, stock)
            wording = _Wording(rule, stock, demand, vulnerable)
            picker = _Picker(item_lots, depot_order)
            # lines with a vulnerable share pick first, then the rest, each in line-id order
            sort_keys = [(need.vulnerable == 0, need.line_id) for need in item_needs]
            for index in sorted(range(len(item_needs)), key=sort_keys.__getitem__):
                need = item_needs[index]
                amount = amounts[index]
                picks, sources = picker.pick(need.shelter_id, amount)
                results[positions[index]] = Suggestion(
                    need.line_id,
                    need.shelter_id,
                    item_id,
                    need.quantity,
                    need.vulnerable,
                    amount,
                    picks,
                    rule,
                    wording.line(need, amount, sources),
                )
    return cast(list[Suggestion], results)


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


def _refuse_need(need: Need) -> NoReturn:
    raise InvalidInput(
        f"明細 {need.line_id}: 数量は 0 以上、要配慮者分は数量以下です / line "
        f"{need.line_id}: quantities are non-negative and the vulnerable share is at most "
        "the quantity"
    )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (reference counting still frees everything);
    it is switched back on only if it was on, so nested or concurrent pauses are safe."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    """Depots by distance from each shelter (computed once per shelter), each with the
    words that name it in an explanation ("倉庫1 3.2 km: ")."""

    def __init__(self, shelters: Mapping[str, Point | None], depots: Mapping[str, Depot]) -> None:
        self.shelters = shelters
        self.depots = depots
        self._orders: dict[str, list[tuple[str, float | None, str]]] = {}

    def of(self, shelter_id: str) -> list[tuple[str, float | None, str]]:
        order = self._orders.get(shelter_id)
        if order is None:
            here = self.shelters.get(shelter_id)
            distances = [
                (depot_id, distance_km(here, depot.location), depot.name)
                for depot_id, depot in self.depots.items()
            ]
            distances.sort(key=lambda d: (d[1] is None, d[1] or 0.0, d[0]))
            order = self._orders[shelter_id] = [
                (depot_id, distance, f"{name}{'' if distance is None else f' {distance:.1f} km'}: ")
                for depot_id, distance, name in distances
            ]
        return order


class _Picker:
    """Takes one item's stock, nearest depot first, earliest expiry first inside it.

    A depot's lots are taken strictly in expiry order, each emptied before the next, and
    an emptied depot stays empty: so each depot keeps the position of its first lot with
    stock, each shelter the position in its depot order before which every depot is
    empty, and a pick never walks over what is gone."""

    def __init__(self, lots: Sequence[Lot], order: _DepotOrder) -> None:
        self.order = order
        #: per depot its lots in expiry order, and what each still holds (same positions)
        self.lots: dict[str, list[Lot]] = defaultdict(list)
        self.on_hand: dict[str, list[int]] = defaultdict(list)
        #: per lot its expiry in words (" ~2027-03-31", "" without one)
        self.expiry_words: dict[str, str] = {}
        for lot in sorted(lots, key=lambda lot: (lot.expires is None, lot.expires, lot.lot_id)):
            self.lots[lot.depot_id].append(lot)
            self.on_hand[lot.depot_id].append(lot.quantity)
            self.expiry_words[lot.lot_id] = (
                "" if lot.expires is None else f" ~{lot.expires.isoformat()}"
            )
        #: per depot that still holds stock, the position of its first lot with stock
        self.first_lot: dict[str, int] = dict.fromkeys(self.lots, 0)
        #: per shelter, the position in its depot order before which every depot is empty
        self.first_depot: dict[str, int] = {}

    def pick(self, shelter_id: str, amount: int) -> tuple[tuple[Pick, ...], str]:
        """The picks for `amount`, and the list of them in words for the explanation."""
        if amount <= 0:
            return (), ""
        order = self.order.of(shelter_id)
        first_lot = self.first_lot
        position = self.first_depot.get(shelter_id, 0)
        while order[position][0] not in first_lot:
            position += 1
        self.first_depot[shelter_id] = position
        depot_id, distance, label = order[position]
        index = first_lot[depot_id]
        held = self.on_hand[depot_id]
        if held[index] > amount:  # the usual case: the first lot has more than enough
            held[index] -= amount
            lot = self.lots[depot_id][index]
            pick = Pick(depot_id, lot.lot_id, amount, lot.expires, distance)
            return (pick,), f"{label}{amount}{self.expiry_words[lot.lot_id]}"
        picks: list[Pick] = []
        words: list[str] = []
        while True:
            if depot_id in first_lot:
                depot_lots, held, index = (
                    self.lots[depot_id],
                    self.on_hand[depot_id],
                    first_lot[depot_id],
                )
                while amount and index < len(depot_lots):
                    lot = depot_lots[index]
                    take = min(held[index], amount)
                    held[index] -= take
                    amount -= take
                    picks.append(Pick(depot_id, lot.lot_id, take, lot.expires, distance))
                    words.append(f"{label}{take}{self.expiry_words[lot.lot_id]}")
                    if not held[index]:
                        index += 1
                if index == len(depot_lots):
                    del first_lot[depot_id]
                else:
                    first_lot[depot_id] = index
                if not amount:
                    return tuple(picks), ", ".join(words)
            position += 1
            if position == len(order):
                # unreachable: the amounts never exceed the item's stock, and every lot's
                # depot is known
                raise AssertionError(f"{amount} left unpicked")
            depot_id, distance, label = order[position]


class _Wording:
    """The words of one item's rule (built once per item), and a line's sentence."""

    def __init__(self, rule: Rule, stock: int, demand: int, vulnerable: int) -> None:
        if rule == Rule.FULL:
            ja, en = "在庫が足りるため全量", "enough stock: in full"
        elif rule == Rule.NO_STOCK:
            ja = f"在庫なし（需要 {demand}）: 配分 0"
            en = f"no stock (need {demand}): nothing allocated"
        elif rule == Rule.VULNERABLE_FIRST:
            ja = (
                f"在庫不足（在庫 {stock}、需要 {demand}）: 要配慮者分 {vulnerable} を先に全量、"
                f"残り {stock - vulnerable} を一般分の需要に比例して配分"
            )
            en = (
                f"short (stock {stock}, need {demand}): the vulnerable shares ({vulnerable}) "
                f"first in full, the remaining {stock - vulnerable} in proportion to the other need"
            )
        else:
            ja = (
                f"在庫が要配慮者分にも不足（在庫 {stock}、要配慮者分 {vulnerable}）: 要配慮者分の"
                "需要に比例して配分、一般分は今回 0"
            )
            en = (
                f"short even for the vulnerable shares (stock {stock}, vulnerable need "
                f"{vulnerable}): shared in proportion to the vulnerable shares, none for the "
                "rest this round"
            )
        # the fixed parts around a line's numbers, joined once per item
        self.ja, self.en = ja, en
        self._ja_open, self._middle_bare = f"{ja}（", f"） / {en} ("
        self._middle = f"）。出荷元: 在庫のある最寄りの拠点から、期限の早いロット順 / {en} ("
        self._from = "); from the nearest depot with stock, earliest expiry first: "

    def line(self, need: Need, amount: int, sources: str) -> str:
        got = f"{amount}/{need.quantity}, 要配慮者分 vulnerable {need.vulnerable}"
        if not sources:
            return f"{self._ja_open}{got}{self._middle_bare}{got})"
        return f"{self._ja_open}{got}{self._middle}{got}{self._from}{sources}"
