"""Property tests of the stock ledger (hypothesis), through the service on the real
database: whatever sequence of receipts, issues, transfers and adjustments staff try,
stock is never negative, a refused movement writes nothing, every transfer takes out
of one place what it puts into the other, and the balances equal the ledger's sums."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from supplies.access import Reach
from supplies.catalogue import service as catalogue
from supplies.places import service as places
from supplies.places.models import PlaceKind
from supplies.places.schemas import PlaceIn
from supplies.stock import service as stock
from supplies.stock.models import Movement, MovementKind, MovementLine, StockBalance
from supplies.stock.schemas import (
    AdjustmentIn,
    AdjustmentLineIn,
    IssueIn,
    PickLineIn,
    ReceiptIn,
    ReceiptLineIn,
    TransferIn,
)
from tests.support.factories import SENDAI, tenant
from yui.db.database import Database
from yui.errors import YuiError
from yui.tenancy.service import list_tenants

EVERYWHERE = Reach(everywhere=True, places=frozenset())
#: a whole-unit item and one counted by the kilogram
ITEMS = ("blanket", "rice-bulk")
EXPIRIES = (None, "2030-01-31")

quantities = st.decimals(min_value=Decimal("0.5"), max_value=Decimal(40), places=1)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("receive"),
            st.integers(0, 2),
            st.sampled_from(ITEMS),
            quantities,
            st.sampled_from(EXPIRIES),
        ),
        st.tuples(st.just("issue"), st.integers(0, 2), st.sampled_from(ITEMS), quantities),
        st.tuples(
            st.just("transfer"),
            st.integers(0, 2),
            st.sampled_from(ITEMS),
            quantities,
            st.integers(0, 2),
        ),
        st.tuples(st.just("lose"), st.integers(0, 2), st.sampled_from(ITEMS), quantities),
    ),
    min_size=1,
    max_size=10,
)


def _apply(db: Database, codes: list[str], op: tuple[Any, ...]) -> bool:
    """Try one movement in its own unit of work; True when it was recorded."""
    kind, place, item, quantity = op[0], codes[op[1]], str(op[2]), op[3]
    assert isinstance(quantity, Decimal)
    with db.unit_of_work(SENDAI) as uow:
        session = uow.session
        try:
            if kind == "receive":
                line = ReceiptLineIn(item=item, quantity=quantity, expires_on=op[4])
                stock.receive(session, ReceiptIn(place=place, lines=[line]), EVERYWHERE, actor="t")
            elif kind == "issue":
                line_out = PickLineIn(item=item, quantity=quantity)
                stock.issue(session, IssueIn(place=place, lines=[line_out]), EVERYWHERE, actor="t")
            elif kind == "transfer":
                body = TransferIn(
                    from_place=place,
                    to_place=codes[op[4]],
                    lines=[PickLineIn(item=item, quantity=quantity)],
                )
                stock.transfer(session, body, EVERYWHERE, actor="t")
            else:  # lose from the lot expiring last (any lot there)
                held = stock.lots_at(session, places.get(session, place).id)
                lots = [lot for balance, lot, it in held if it.code == item]
                lot_id = lots[-1].id if lots else str(uuid.uuid4())
                adjustment = AdjustmentIn(
                    place=place,
                    reason="lost",
                    lines=[AdjustmentLineIn(item=item, lot=lot_id, quantity=quantity)],
                )
                stock.adjust(session, adjustment, EVERYWHERE, actor="t")
        except YuiError:
            return False
        uow.commit()
        return True


def _snapshot(db: Database, place_ids: list[str]) -> tuple[int, dict[tuple[str, str], Decimal]]:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        movements = uow.session.execute(select(func.count()).select_from(Movement)).scalar_one()
        rows = uow.session.execute(
            select(StockBalance.place_id, StockBalance.item_id, StockBalance.quantity).where(
                StockBalance.place_id.in_(place_ids)
            )
        )
        totals: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for place_id, item_id, quantity in rows:
            assert quantity >= 0, "a balance went negative"
            totals[(place_id, item_id)] += quantity
        return movements, dict(totals)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=operations)
def test_stock_never_negative_and_every_movement_balances(
    db: Database, operations: list[tuple[Any, ...]]
) -> None:
    if not any(t.tenant_id == SENDAI for t in list_tenants(db)):
        tenant(db)
    with db.unit_of_work(SENDAI) as uow:
        if not catalogue.listed(uow.session):
            catalogue.seed(uow.session, actor="t")
        suffix = uuid.uuid4().hex[:6]
        made = [
            places.add(uow.session, PlaceIn(code=f"P{n}-{suffix}", kind=kind, name="p"), actor="t")
            for n, kind in enumerate((PlaceKind.STOCKPILE, PlaceKind.HUB, PlaceKind.SHELTER))
        ]
        codes, ids = [p.code for p in made], [p.id for p in made]
        item_ids = {code: catalogue.by_code(uow.session, code).id for code in ITEMS}
        uow.commit()
    model: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    # every example starts from stock at two places, so later movements meet held lots
    preamble = [
        ("receive", place, item, Decimal(20), "2030-01-31") for place in (0, 1) for item in ITEMS
    ]
    for op in preamble + operations:
        before = _snapshot(db, ids)
        recorded = _apply(db, codes, op)
        after = _snapshot(db, ids)
        if not recorded:
            assert after == before, f"a refused {op[0]} wrote something"
            continue
        assert after[0] == before[0] + 1
        key = (ids[op[1]], item_ids[str(op[2])])
        quantity = op[3]
        assert isinstance(quantity, Decimal)
        if op[0] == "receive":
            model[key] += quantity
        elif op[0] == "transfer":
            model[key] -= quantity
            model[(ids[op[4]], key[1])] += quantity
        else:
            model[key] -= quantity
    _, totals = _snapshot(db, ids)
    assert {k: v for k, v in totals.items() if v} == {k: v for k, v in model.items() if v}
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        _, mismatches = stock.verify_balances(uow.session)
        assert mismatches == []
        lines = uow.session.execute(
            select(
                Movement.kind,
                MovementLine.movement_id,
                MovementLine.place_id,
                MovementLine.lot_id,
                MovementLine.quantity,
            )
            .join(Movement, Movement.id == MovementLine.movement_id)
            .where(MovementLine.place_id.in_(ids))
        ).all()
    per_transfer: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for kind, movement_id, _place, lot_id, quantity in lines:
        if kind == MovementKind.TRANSFER:
            per_transfer[(movement_id, lot_id)] += quantity
        elif kind == MovementKind.RECEIPT:
            assert quantity > 0
        else:
            assert quantity < 0
    assert all(total == 0 for total in per_transfer.values())
