"""Requests, their lines, kits and commitments in and out."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from supplies.catalogue.schemas import ITEM_CODE_PATTERN
from supplies.quantities import PositiveQuantity, QuantityOut
from supplies.requests.models import Origin, Status
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PLACE_REF_PATTERN = r"^[A-Za-z0-9-]{1,36}$"
#: lines of one request (a shelter asks for a few dozen items at most)
MAX_LINES = 200

ItemCode = Annotated[str, Field(pattern=ITEM_CODE_PATTERN, description="品目コード / item code")]
Note = Annotated[str, MultiLine(), Field(max_length=2000)]


class LineIn(InputModel):
    """One item, or a kit (`kit` and `count`): a kit adds a line per item it holds."""

    item: ItemCode | None = None
    quantity: PositiveQuantity | None = None
    vulnerable: PositiveQuantity | None = Field(
        default=None,
        description="うち要配慮者（乳幼児・高齢者・妊婦・アレルギー・医療）の分 / of it, for "
        "vulnerable groups: served first when stock is short",
    )
    kit: ItemCode | None = None
    count: int | None = Field(default=None, ge=1, le=100000)

    @model_validator(mode="after")
    def _item_or_kit(self) -> LineIn:
        if (self.item is None) == (self.kit is None):
            raise ValueError("item か kit のどちらか一つ / give either an item or a kit")
        if self.item is not None and self.quantity is None:
            raise ValueError("item には quantity が必要 / an item line needs a quantity")
        if self.kit is not None and (self.count is None or self.quantity is not None):
            raise ValueError("kit には count だけ / a kit line takes a count only")
        if (
            self.vulnerable is not None
            and self.quantity is not None
            and (self.vulnerable > self.quantity)
        ):
            raise ValueError("vulnerable は quantity 以下 / vulnerable is at most the quantity")
        return self


class RequestIn(InputModel):
    id: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        description="端末が作る要請ID（UUID）: 同じ内容の再送は最初の要請（200）、違う内容は 409 / "
        "the client's id: a resend with the same content answers the first request (200), "
        "other content is a 409",
    )
    shelter: str = Field(pattern=PLACE_REF_PATTERN, description="避難所の ID かコード")
    needed_by: AwareDatetime | None = None
    note: Note = ""
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    submit: bool = Field(default=False, description="作成と同時に提出 / submit at once")


class LinesIn(InputModel):
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)


class CancelIn(InputModel):
    reason: Note = Field(min_length=1)


class LineOut(BaseModel):
    id: str
    item_id: str
    item_code: str
    name_ja: str
    name_en: str
    unit_ja: str
    requested: QuantityOut
    vulnerable: QuantityOut
    committed: QuantityOut
    shipped: QuantityOut
    received: QuantityOut
    short: QuantityOut


class AllocationOut(BaseModel):
    line_id: str
    place_id: str
    lot_id: str
    quantity: QuantityOut
    rule: str
    explanation: str
    shipped: bool


class RequestOut(BaseModel):
    id: str
    origin: Origin
    status: Status
    shelter_id: str | None
    requester_tenant: str
    needed_by: UtcDateTime | None
    note: str
    created_at: UtcDateTime
    created_by: str
    submitted_at: UtcDateTime | None
    approved_at: UtcDateTime | None
    approved_by: str
    committed_at: UtcDateTime | None
    shipped_at: UtcDateTime | None
    received_at: UtcDateTime | None
    cancelled_at: UtcDateTime | None
    cancel_reason: str
    lines: list[LineOut]
    allocations: list[AllocationOut]


class PickIn(InputModel):
    line: str = Field(pattern=UUID_PATTERN, description="明細ID / request line id")
    lot: str = Field(pattern=UUID_PATTERN, description="ロットID / lot id")
    place: str = Field(pattern=PLACE_REF_PATTERN, description="拠点の ID かコード / depot")
    quantity: PositiveQuantity


class CommitIn(InputModel):
    """Staff confirm the suggestion (`accept_suggestion`) or give their own picks."""

    requests: list[str] = Field(
        min_length=1, max_length=500, description="引き当てる要請ID / the requests to commit"
    )
    accept_suggestion: bool = False
    picks: list[PickIn] = Field(default_factory=list, max_length=5000)
    note: Note = ""

    @model_validator(mode="after")
    def _one_way(self) -> CommitIn:
        if self.accept_suggestion == bool(self.picks):
            raise ValueError(
                "accept_suggestion か picks のどちらか一つ / either accept the suggestion or "
                "give picks"
            )
        return self


class PickOut(BaseModel):
    place_id: str
    place_code: str
    lot_id: str
    quantity: QuantityOut
    expires_on: str | None
    distance_km: float | None


class FreeLotOut(BaseModel):
    """What a depot can still give of one lot (on hand less unshipped commitments)."""

    place_id: str
    place_code: str
    item_code: str
    lot_id: str
    expires_on: str | None
    free: QuantityOut


class SuggestionOut(BaseModel):
    request_id: str
    line_id: str
    shelter_id: str | None
    item_code: str
    open: QuantityOut
    vulnerable: QuantityOut
    allocated: QuantityOut
    rule: str
    explanation: str
    picks: list[PickOut]


class KitItemIn(InputModel):
    item: ItemCode
    quantity: PositiveQuantity


class KitIn(InputModel):
    code: ItemCode
    name: str = Field(min_length=1, max_length=100)
    items: list[KitItemIn] = Field(min_length=1, max_length=100)


class KitItemOut(BaseModel):
    item_code: str
    quantity: QuantityOut


class KitOut(BaseModel):
    id: str
    code: str
    name: str
    items: list[KitItemOut]
