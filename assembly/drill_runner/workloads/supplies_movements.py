"""The supplies-movements workload: a depot's stock moved through every site.

Before the load, for each tenant, the drill's staff account loads the seed catalogue
(codes not yet present only) and adds a depot (``stockpile``) and a shelter of the run's
own (codes ``DD<tag>``, ``DS<tag>``): the drill's stock is apart from any other place's.

The load, each movement with a client-generated id and the run's reference
(``drill <tag>``), one item (``water-2l``):

- **receipt** (4 in 10) — 10 bottles into the depot (one lot: the run's lot code and expiry);
- **transfer** (3.5 in 10) — 4 bottles from the depot to the shelter (first expired first out);
- **issue** (2.5 in 10) — 2 bottles handed out at the shelter.

A transfer or issue the stock cannot cover is refused (409, not enough stock): rejected,
never acknowledged, so never a loss. Afterwards each copy is read for the run's movements
(``supplies_movements`` by reference, their lines summed per place and item), and the
tenant's balances are checked against its ledger with the service's own
``supplies.stock.service.verify_balances``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from assembly.drill_runner.workloads.checks import (
    Balance,
    Record,
    ServiceCopy,
    expected_movement,
    movement_lines,
)
from assembly.drill_runner.workloads.setup import StaffClient
from failover.drill.copies import TenantReads
from failover.drill.loadgen import Attempt, Write
from failover.drill.report import Expectation
from supplies.catalogue.models import Item
from supplies.places.models import Place
from supplies.stock.models import Movement, MovementLine, StockBalance
from supplies.stock.service import verify_balances
from yui.tenancy.models import Tenant

__all__ = ["ITEM", "KINDS", "QUANTITIES", "WEIGHTS", "SuppliesMovements"]

ITEM = "water-2l"
#: each movement's kind, how often it comes and the bottles it moves
KINDS = ("receipt", "transfer", "issue")
WEIGHTS = (0.4, 0.35, 0.25)
QUANTITIES = (10, 4, 2)


class SuppliesMovements:
    name = "supplies-movements"

    def __init__(self, staff: StaffClient, tag: str) -> None:
        self.staff = staff
        self.tag = tag
        self.depot = f"DD{tag}"
        self.shelter = f"DS{tag}"
        self.reference = f"drill {tag}"
        self.expires_on = (datetime.now(UTC) + timedelta(days=5 * 365)).date().isoformat()
        self.random = random.Random(tag)
        self.notes: list[str] = []

    async def prepare(self, tenants: Sequence[str]) -> None:
        for tenant in tenants:
            await self.staff.request(tenant, "POST", "/supplies/items/seed")
            for code, kind, name in (
                (self.depot, "stockpile", "訓練倉庫 / drill depot"),
                (self.shelter, "shelter", "訓練避難所 / drill shelter"),
            ):
                await self.staff.request(
                    tenant,
                    "POST",
                    "/supplies/places",
                    json={"code": code, "kind": kind, "name": name},
                )
        self.notes.append(
            f"stock movements of {ITEM} with reference {self.reference!r} at the depot "
            f"{self.depot} and the shelter {self.shelter} (account {self.staff.username})"
        )

    def write(self, tenant: str, write_id: uuid.UUID, n: int) -> Write:
        index = self.random.choices(range(len(KINDS)), weights=WEIGHTS)[0]
        kind, quantity = KINDS[index], QUANTITIES[index]
        body: dict[str, Any] = {"id": str(write_id), "reference": self.reference}
        if kind == "receipt":
            body |= {
                "place": self.depot,
                "source": "訓練 / drill",
                "lines": [
                    {
                        "item": ITEM,
                        "quantity": quantity,
                        "expires_on": self.expires_on,
                        "lot_code": f"drill-{self.tag}",
                    }
                ],
            }
        elif kind == "transfer":
            body |= {
                "from_place": self.depot,
                "to_place": self.shelter,
                "lines": [{"item": ITEM, "quantity": quantity}],
            }
        else:
            body |= {"place": self.shelter, "lines": [{"item": ITEM, "quantity": quantity}]}
        return Write(f"/api/v1/{tenant}/supplies/stock/{kind}s", body, kind=kind)

    async def auth(self, tenant: str) -> Mapping[str, str]:
        return await self.staff.tokens.headers(tenant)

    def expected(self, attempt: Attempt) -> Mapping[str, Any] | None:
        return expected_movement(attempt)

    async def resend(self, attempts: Sequence[Attempt]) -> list[Expectation]:
        return []  # the movements' resend rule is the stock service's own tests'

    def read(self, db: TenantReads, tenants: Sequence[str]) -> Mapping[str, ServiceCopy]:
        found: dict[str, ServiceCopy] = {}
        for tenant in tenants:
            with db.unit_of_work(tenant, read_only=True) as uow:
                session = uow.session
                if session.get(Tenant, tenant) is None:
                    continue
                movements = session.execute(
                    select(Movement).where(Movement.reference == self.reference)
                ).scalars()
                by_id = {m.id: m for m in movements}
                lines: dict[str, list[tuple[str, str, Any]]] = {m: [] for m in by_id}
                for movement_id, place, item, quantity in session.execute(
                    select(MovementLine.movement_id, Place.code, Item.code, MovementLine.quantity)
                    .join(Place, Place.id == MovementLine.place_id)
                    .join(Item, Item.id == MovementLine.item_id)
                    .where(MovementLine.movement_id.in_(list(by_id)))
                ):
                    lines[movement_id].append((place, item, quantity))
                _, mismatches = verify_balances(session)
                ledger = {(m.place_id, m.lot_id): m.ledger for m in mismatches}
                balances = [
                    Balance(place, lot, kept, ledger.pop((place, lot), kept))
                    for place, lot, kept in session.execute(
                        select(StockBalance.place_id, StockBalance.lot_id, StockBalance.quantity)
                    )
                ]
                # a ledger sum with no balance kept for it at all
                balances += [Balance(p, lot, Decimal(0), q) for (p, lot), q in ledger.items()]
                found[tenant] = ServiceCopy(
                    records=[
                        Record(
                            id=movement.id,
                            content={
                                "kind": movement.kind,
                                "lines": movement_lines(lines[movement.id]),
                            },
                            recorded_at=movement.recorded_at.isoformat(),
                        )
                        for movement in by_id.values()
                    ],
                    balances=balances,
                )
        return found
