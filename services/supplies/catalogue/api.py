"""HTTP routes of the catalogue. Thin: the service decides."""

from __future__ import annotations

from fastapi import APIRouter, status

from supplies.access import AnyReader, StaffWriter
from supplies.catalogue import service
from supplies.catalogue.schemas import ItemIn, ItemOut, item_out
from yui.http.deps import UoW

router = APIRouter(tags=["relief supplies"])


@router.get("/supplies/items", response_model=list[ItemOut], summary="品目一覧 / the catalogue")
def list_items(uow: UoW, principal: AnyReader) -> list[ItemOut]:
    return [item_out(item) for item in service.listed(uow.session)]


@router.post(
    "/supplies/items",
    response_model=ItemOut,
    status_code=status.HTTP_201_CREATED,
    summary="品目を追加 / add an item",
)
def add_item(body: ItemIn, uow: UoW, principal: StaffWriter) -> ItemOut:
    item = service.add(uow.session, body, actor=principal.username)
    uow.commit()
    return item_out(item)


@router.post(
    "/supplies/items/seed",
    response_model=list[ItemOut],
    summary="標準の品目一覧を読み込む（未登録のコードだけ） / load the seed catalogue (codes "
    "not yet present)",
)
def seed_catalogue(uow: UoW, principal: StaffWriter) -> list[ItemOut]:
    added = service.seed(uow.session, actor=principal.username)
    uow.commit()
    return [item_out(item) for item in added]
