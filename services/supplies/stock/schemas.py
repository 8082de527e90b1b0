"""Movements and stock levels in and out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter

from supplies.catalogue.schemas import ITEM_CODE_PATTERN
from supplies.quantities import CountedQuantity, PositiveQuantity, QuantityOut
from supplies.stock.models import AdjustmentReason, MovementKind
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PLACE_REF_PATTERN = r"^[A-Za-z0-9-]{1,36}$"
#: lines of one movement (a delivery note rarely has more than a few dozen)
MAX_LINES = 500

ItemCode = Annotated[str, Field(pattern=ITEM_CODE_PATTERN, description="品目コード / item code")]
PlaceRef = Annotated[str, Field(pattern=PLACE_REF_PATTERN, description="場所ID またはコード")]
LotId = Annotated[str, Field(pattern=UUID_PATTERN, description="ロットID / lot id")]
Note = Annotated[str, MultiLine(), Field(max_length=2000)]


class MovementFields(InputModel):
    id: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        description="端末が作る移動ID（UUID）: 再送しても一度だけ記録 / the client's id",
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="実際の時刻（省略時は今） / when it happened (default: now)"
    )
    reference: str = Field(default="", max_length=100, description="伝票番号など / a reference")
    note: Note = ""


class ReceiptLineIn(InputModel):
    item: ItemCode
    quantity: PositiveQuantity
    expires_on: date | None = Field(default=None, description="賞味・使用期限 / expiry date")
    lot_code: str = Field(default="", max_length=60, description="ロット番号 / the maker's lot")


class ReceiptIn(MovementFields):
    place: PlaceRef
    source: str = Field(default="", max_length=200, description="入手元 / where it came from")
    lines: list[ReceiptLineIn] = Field(min_length=1, max_length=MAX_LINES)


class PickLineIn(InputModel):
    item: ItemCode
    quantity: PositiveQuantity
    lot: LotId | None = Field(
        default=None, description="ロットを指定（省略時は期限の早い順） / a lot (default: FEFO)"
    )


class TransferIn(MovementFields):
    from_place: PlaceRef
    to_place: PlaceRef
    lines: list[PickLineIn] = Field(min_length=1, max_length=MAX_LINES)


class IssueIn(MovementFields):
    place: PlaceRef
    lines: list[PickLineIn] = Field(min_length=1, max_length=MAX_LINES)


class AdjustmentLineIn(InputModel):
    item: ItemCode
    lot: LotId | None = Field(
        default=None, description="対象ロット（found で新しいロットなら省略） / the lot"
    )
    quantity: CountedQuantity = Field(
        description="減らす量・見つかった量（stock_count は数えた量） / the amount removed or "
        "found (stock_count: the amount counted)"
    )
    expires_on: date | None = None
    lot_code: str = Field(default="", max_length=60)


class AdjustmentIn(MovementFields):
    place: PlaceRef
    reason: AdjustmentReason
    lines: list[AdjustmentLineIn] = Field(min_length=1, max_length=MAX_LINES)


class MovementLineOut(BaseModel):
    place_id: str
    item_id: str
    item_code: str
    lot_id: str
    expires_on: date | None
    quantity: QuantityOut


class MovementOut(BaseModel):
    id: str
    kind: MovementKind
    reason: AdjustmentReason | None
    occurred_at: UtcDateTime
    recorded_at: UtcDateTime
    recorded_by: str
    reference: str
    note: str
    lines: list[MovementLineOut]


class StockLevelOut(BaseModel):
    place_id: str
    place_code: str
    item_id: str
    item_code: str
    name_ja: str
    name_en: str
    unit_ja: str
    quantity: QuantityOut
    earliest_expiry: date | None
    lots: int


#: the stock levels answer, validated from the service's rows and written out in one pass
#: (pydantic's core): a depot's ~2,000 rows took twice as long as one model and one dump each
STOCK_LEVELS = TypeAdapter(list[StockLevelOut])


def stock_levels_json(levels: Sequence[object]) -> bytes:
    """GET /supplies/stock's body: `levels` (objects with StockLevelOut's fields) as JSON."""
    return STOCK_LEVELS.dump_json(STOCK_LEVELS.validate_python(levels, from_attributes=True))


class LotStockOut(BaseModel):
    place_id: str
    item_code: str
    lot_id: str
    lot_code: str
    expires_on: date | None
    quantity: QuantityOut


class BalanceMismatchOut(BaseModel):
    place_id: str
    lot_id: str
    kept: QuantityOut
    ledger: QuantityOut


class BalanceCheckOut(BaseModel):
    ok: bool
    balances: int
    mismatches: list[BalanceMismatchOut]
