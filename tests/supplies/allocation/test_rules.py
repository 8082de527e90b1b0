"""The allocation rules: never more than the stock, shares in proportion to need with the
vulnerable first, nearest depot and first expiry; the rule in words beside each line."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplies.allocation.rules import (
    Depot,
    Lot,
    Need,
    PlannedPick,
    Point,
    Rule,
    Suggestion,
    check_plan,
    largest_remainder,
    suggest,
)
from yui.errors import InvalidInput

SHELTERS: dict[str, Point | None] = {
    f"s{n}": Point(38.2 + n * 0.01, 140.8 - n * 0.02) for n in range(5)
}
SHELTERS["s-nowhere"] = None
DEPOTS = {
    f"d{n}": Depot(f"d{n}", f"倉庫{n}", Point(38.2 + n * 0.03, 140.8 + n * 0.01)) for n in range(4)
}
DEPOTS["d-nowhere"] = Depot("d-nowhere", "所在不明倉庫", None)
ITEMS = ["water", "blanket", "milk"]


@st.composite
def needs_and_lots(draw: st.DrawFn) -> tuple[list[Need], list[Lot]]:
    count = draw(st.integers(min_value=1, max_value=25))
    needs = []
    for n in range(count):
        quantity = draw(st.integers(min_value=0, max_value=60))
        needs.append(
            Need(
                line_id=f"line-{n:02d}",
                shelter_id=draw(st.sampled_from(sorted(SHELTERS))),
                item_id=draw(st.sampled_from(ITEMS)),
                quantity=quantity,
                vulnerable=draw(st.integers(min_value=0, max_value=quantity)),
            )
        )
    lots = []
    for n in range(draw(st.integers(min_value=0, max_value=12))):
        expiry_days = draw(st.none() | st.integers(min_value=0, max_value=30))
        lots.append(
            Lot(
                lot_id=f"lot-{n:02d}",
                depot_id=draw(st.sampled_from(sorted(DEPOTS))),
                item_id=draw(st.sampled_from(ITEMS)),
                quantity=draw(st.integers(min_value=0, max_value=80)),
                expires=None if expiry_days is None else date(2027, 1, 1) + timedelta(expiry_days),
            )
        )
    return needs, lots


@settings(max_examples=200, deadline=None)
@given(needs_and_lots())
def test_allocation_properties(case: tuple[list[Need], list[Lot]]) -> None:
    """One generated case checked for every property (one generation: a fast test)."""
    needs, lots = case
    suggestions = suggest(needs, lots, shelters=SHELTERS, depots=DEPOTS)
    never_more_than_the_stock(needs, lots, suggestions)
    vulnerable_first_then_in_proportion(needs, lots, suggestions)
    nearest_depot_and_first_expiry(lots, suggestions)


def never_more_than_the_stock(
    needs: list[Need], lots: list[Lot], suggestions: list[Suggestion]
) -> None:
    assert [s.line_id for s in suggestions] == [n.line_id for n in needs]
    held = {lot.lot_id: lot for lot in lots}
    taken: dict[str, int] = defaultdict(int)
    for suggestion, need in zip(suggestions, needs, strict=True):
        assert 0 <= suggestion.allocated <= need.quantity
        assert suggestion.allocated == sum(pick.quantity for pick in suggestion.picks)
        for pick in suggestion.picks:
            assert held[pick.lot_id].item_id == need.item_id
            assert pick.depot_id == held[pick.lot_id].depot_id
            taken[pick.lot_id] += pick.quantity
        assert suggestion.explanation.count(" / ") >= 1  # 日本語 / English
    for lot_id, quantity in taken.items():
        assert quantity <= held[lot_id].quantity
    for item in ITEMS:
        stock = sum(lot.quantity for lot in lots if lot.item_id == item)
        demand = sum(need.quantity for need in needs if need.item_id == item)
        given_out = sum(s.allocated for s in suggestions if s.item_id == item)
        assert given_out == min(stock, demand)


def vulnerable_first_then_in_proportion(
    needs: list[Need], lots: list[Lot], suggestions: list[Suggestion]
) -> None:
    for item in ITEMS:
        pairs = [(s, n) for s, n in zip(suggestions, needs, strict=True) if n.item_id == item]
        if not pairs:
            continue
        stock = sum(lot.quantity for lot in lots if lot.item_id == item)
        demand = sum(n.quantity for _, n in pairs)
        vulnerable = sum(n.vulnerable for _, n in pairs)
        for suggestion, need in pairs:
            if stock >= demand:
                assert suggestion.rule == Rule.FULL
                assert suggestion.allocated == need.quantity
            elif stock == 0:
                assert suggestion.rule == Rule.NO_STOCK and suggestion.allocated == 0
            elif stock >= vulnerable:
                # every vulnerable share in full; the rest: the quota rounded down or up
                assert suggestion.rule == Rule.VULNERABLE_FIRST
                assert suggestion.allocated >= need.vulnerable
                general = demand - vulnerable
                quota = (stock - vulnerable) * (need.quantity - need.vulnerable) / general
                extra = suggestion.allocated - need.vulnerable
                assert math.floor(quota) <= extra <= math.ceil(quota)
            else:
                # not even the vulnerable shares: they share the stock, the rest get none
                assert suggestion.rule == Rule.VULNERABLE_ONLY
                quota = stock * need.vulnerable / vulnerable
                assert math.floor(quota) <= suggestion.allocated <= math.ceil(quota)


def nearest_depot_and_first_expiry(lots: list[Lot], suggestions: list[Suggestion]) -> None:
    taken: dict[str, int] = defaultdict(int)
    for suggestion in suggestions:
        distances = [
            math.inf if pick.distance_km is None else pick.distance_km for pick in suggestion.picks
        ]
        assert distances == sorted(distances)  # nearer depots first
        for pick in suggestion.picks:
            taken[pick.lot_id] += pick.quantity

    # first expired, first out: at a depot, a lot is touched only when every lot of the
    # same item that expires before it was emptied
    def expiry_key(lot: Lot) -> tuple[bool, date]:
        return (lot.expires is None, lot.expires or date.min)

    for lot in lots:
        if not taken.get(lot.lot_id):
            continue
        for earlier in lots:
            if (
                earlier.depot_id == lot.depot_id
                and earlier.item_id == lot.item_id
                and expiry_key(earlier) < expiry_key(lot)
            ):
                assert taken.get(earlier.lot_id, 0) == earlier.quantity


def test_a_short_item_explained_line_by_line() -> None:
    """Water for two shelters, 100 in stock for 160 asked, 40 of it for the vulnerable."""
    needs = [
        Need("a", "s0", "water", 100, vulnerable=30),
        Need("b", "s4", "water", 60, vulnerable=10),
    ]
    lots = [
        Lot("old", "d0", "water", 50, date(2027, 1, 1)),
        Lot("new", "d0", "water", 30, date(2028, 1, 1)),
        Lot("far", "d3", "water", 20, date(2026, 12, 31)),
    ]
    a, b = suggest(needs, lots, shelters=SHELTERS, depots=DEPOTS)
    # 40 vulnerable first, 60 left over 70 + 50 of other need: 35 and 25
    assert (a.allocated, b.allocated) == (65, 35)
    assert a.rule == b.rule == Rule.VULNERABLE_FIRST
    # s0 is nearest d0: the lot that expires first, then the next one
    assert [(p.lot_id, p.quantity) for p in a.picks] == [("old", 50), ("new", 15)]
    assert "要配慮者分 40 を先に全量" in a.explanation
    assert "the vulnerable shares (40) first in full" in a.explanation
    assert "倉庫0" in a.explanation and "65/100" in a.explanation
    assert a.explanation.index("在庫不足") < a.explanation.index("short")  # 日本語 first


def test_largest_remainder_and_bad_numbers() -> None:
    assert largest_remainder(7, [3, 3, 3], ["a", "b", "c"]) == [3, 2, 2]
    assert largest_remainder(5, [1, 3, 6], ["a", "b", "c"]) == [0, 2, 3]
    assert largest_remainder(0, [5, 5], ["a", "b"]) == [0, 0]
    assert largest_remainder(99, [5, 5], ["a", "b"]) == [5, 5]
    with pytest.raises(InvalidInput):
        suggest([Need("x", "s0", "water", -1)], [], shelters=SHELTERS, depots=DEPOTS)
    with pytest.raises(InvalidInput):
        suggest([Need("x", "s0", "water", 3, 4)], [], shelters=SHELTERS, depots=DEPOTS)
    with pytest.raises(InvalidInput):
        suggest([], [Lot("l", "nowhere", "water", 1)], shelters=SHELTERS, depots=DEPOTS)


def test_a_changed_plan_must_fit_the_stock() -> None:
    lots = [Lot("l1", "d0", "water", 10), Lot("l2", "d1", "milk", 5)]
    open_quantity = {"a": 8, "b": 6}
    check_plan(
        [PlannedPick("a", "water", "l1", 8), PlannedPick("b", "milk", "l2", 5)],
        lots,
        open_quantity=open_quantity,
    )
    for plan in (
        [PlannedPick("a", "water", "l1", 6), PlannedPick("b", "water", "l1", 5)],  # 11 of 10
        [PlannedPick("b", "milk", "l2", 6)],  # more than the lot
        [PlannedPick("a", "water", "l2", 1)],  # a lot of another item
        [PlannedPick("a", "water", "l1", 9)],  # more than the line asks
        [PlannedPick("a", "water", "l1", 0)],
        [PlannedPick("zz", "water", "l1", 1)],
    ):
        with pytest.raises(InvalidInput):
            check_plan(plan, lots, open_quantity=open_quantity)
