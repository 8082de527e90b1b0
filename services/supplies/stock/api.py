"""HTTP routes of stock: movements (receipt, transfer, issue, adjustment), levels, the
ledger and its check. Thin: the service decides."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy.orm import Session

from supplies.access import StaffReader, StockReader, StockWorker, reach_of
from supplies.catalogue import service as catalogue
from supplies.places import service as places
from supplies.stock import service
from supplies.stock.models import AdjustmentReason, Movement, MovementKind
from supplies.stock.schemas import (
    PLACE_REF_PATTERN,
    UUID_PATTERN,
    AdjustmentIn,
    BalanceCheckOut,
    BalanceMismatchOut,
    IssueIn,
    LotStockOut,
    MovementLineOut,
    MovementOut,
    ReceiptIn,
    StockLevelOut,
    TransferIn,
    stock_levels_json,
)
from yui.http.deps import UoW
from yui.text import LineText

router = APIRouter(tags=["relief supplies"])

RESEND: dict[int | str, dict[str, Any]] = {
    200: {"model": MovementOut, "description": "この移動IDは記録済み（最初の結果） / a resend"}
}


def movements_out(session: Session, movements: list[Movement]) -> list[MovementOut]:
    lines = service.lines_of(session, [movement.id for movement in movements])
    return [
        MovementOut(
            id=movement.id,
            kind=MovementKind(movement.kind),
            reason=AdjustmentReason(movement.reason) if movement.reason else None,
            occurred_at=movement.occurred_at,
            recorded_at=movement.recorded_at,
            recorded_by=movement.recorded_by,
            reference=movement.reference,
            note=movement.note,
            lines=[
                MovementLineOut(
                    place_id=line.place_id,
                    item_id=item.id,
                    item_code=item.code,
                    lot_id=lot.id,
                    expires_on=lot.expires_on,
                    quantity=line.quantity,
                )
                for line, item, lot in lines.get(movement.id, [])
            ],
        )
        for movement in movements
    ]


def _answer(uow: UoW, recorded: service.Recorded, response: Response) -> MovementOut:
    uow.commit()
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return movements_out(uow.session, [recorded.movement])[0]


@router.post(
    "/supplies/stock/receipts",
    response_model=MovementOut,
    status_code=status.HTTP_201_CREATED,
    responses=RESEND,
    summary="受入（購入・寄付・支援物資） / receive stock",
)
def receive(body: ReceiptIn, uow: UoW, principal: StockWorker, response: Response) -> MovementOut:
    reach = reach_of(uow.session, principal)
    return _answer(
        uow, service.receive(uow.session, body, reach, actor=principal.username), response
    )


@router.post(
    "/supplies/stock/transfers",
    response_model=MovementOut,
    status_code=status.HTTP_201_CREATED,
    responses=RESEND,
    summary="移送（期限の早い順に引当） / transfer, first expired first out",
)
def transfer(body: TransferIn, uow: UoW, principal: StockWorker, response: Response) -> MovementOut:
    reach = reach_of(uow.session, principal)
    return _answer(
        uow, service.transfer(uow.session, body, reach, actor=principal.username), response
    )


@router.post(
    "/supplies/stock/issues",
    response_model=MovementOut,
    status_code=status.HTTP_201_CREATED,
    responses=RESEND,
    summary="払出（避難者へ配布、期限の早い順） / issue to people, first expired first out",
)
def issue(body: IssueIn, uow: UoW, principal: StockWorker, response: Response) -> MovementOut:
    reach = reach_of(uow.session, principal)
    return _answer(uow, service.issue(uow.session, body, reach, actor=principal.username), response)


@router.post(
    "/supplies/stock/adjustments",
    response_model=MovementOut,
    status_code=status.HTTP_201_CREATED,
    responses=RESEND,
    summary="在庫調整（破損・期限切れ・紛失・発見・棚卸） / adjust with a reason",
)
def adjust(body: AdjustmentIn, uow: UoW, principal: StockWorker, response: Response) -> MovementOut:
    reach = reach_of(uow.session, principal)
    return _answer(
        uow, service.adjust(uow.session, body, reach, actor=principal.username), response
    )


@router.get(
    "/supplies/stock",
    response_model=list[StockLevelOut],
    summary="在庫（場所・品目ごと） / stock levels per place and item",
)
def stock_levels(
    uow: UoW,
    principal: StockReader,
    place: Annotated[LineText, Query(pattern=PLACE_REF_PATTERN)] | None = None,
    item: Annotated[LineText, Query(max_length=40)] | None = None,
) -> Response:
    reach = reach_of(uow.session, principal)
    place_ids = None
    if place is not None:
        place_ids = [places.get(uow.session, place, reach).id]
    elif not reach.everywhere:
        place_ids = sorted(reach.places)
    item_ids = [catalogue.by_code(uow.session, item).id] if item is not None else None
    levels = service.levels(uow.session, place_ids=place_ids, item_ids=item_ids)
    # written here, once, rather than as models FastAPI would validate again and encode
    return Response(stock_levels_json(levels), media_type="application/json")


@router.get(
    "/supplies/places/{place}/lots",
    response_model=list[LotStockOut],
    summary="場所のロット別在庫（期限の早い順） / stock by lot, earliest expiry first",
)
def lots(
    place: Annotated[str, Path(pattern=PLACE_REF_PATTERN)], uow: UoW, principal: StockReader
) -> list[LotStockOut]:
    found = places.get(uow.session, place, reach_of(uow.session, principal))
    return [
        LotStockOut(
            place_id=found.id,
            item_code=item.code,
            lot_id=lot.id,
            lot_code=lot.lot_code,
            expires_on=lot.expires_on,
            quantity=balance.quantity,
        )
        for balance, lot, item in service.lots_at(uow.session, found.id)
    ]


@router.get(
    "/supplies/stock/movements",
    response_model=list[MovementOut],
    summary="在庫の移動の記録（新しい順） / the ledger, newest first",
)
def ledger(
    uow: UoW,
    principal: StockReader,
    place: Annotated[LineText, Query(pattern=PLACE_REF_PATTERN)] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MovementOut]:
    reach = reach_of(uow.session, principal)
    place_ids = None if reach.everywhere else sorted(reach.places)
    if place is not None:
        place_ids = [places.get(uow.session, place, reach).id]
    found = service.ledger(uow.session, place_ids=place_ids, limit=limit)
    return movements_out(uow.session, found)


@router.get(
    "/supplies/stock/movements/{movement_id}",
    response_model=MovementOut,
    summary="一件の移動 / one movement",
)
def read_movement(
    movement_id: Annotated[str, Path(pattern=UUID_PATTERN)], uow: UoW, principal: StaffReader
) -> MovementOut:
    return movements_out(uow.session, [service.movement(uow.session, movement_id)])[0]


@router.get(
    "/supplies/stock/check",
    response_model=BalanceCheckOut,
    summary="在庫残高を移動記録から再計算して照合 / recompute the balances from the ledger",
)
def check(uow: UoW, principal: StaffReader) -> BalanceCheckOut:
    count, mismatches = service.verify_balances(uow.session)
    return BalanceCheckOut(
        ok=not mismatches,
        balances=count,
        mismatches=[BalanceMismatchOut(**vars(m)) for m in mismatches],
    )
