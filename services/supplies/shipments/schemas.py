"""Shipments, receipts, discrepancies and donation offers in and out."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from supplies.catalogue.schemas import ITEM_CODE_PATTERN
from supplies.quantities import CountedQuantity, PositiveQuantity, QuantityOut
from supplies.shipments.models import DiscrepancyKind, OfferStatus, ShipmentStatus
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PLACE_REF_PATTERN = r"^[A-Za-z0-9-]{1,36}$"
Note = Annotated[str, MultiLine(), Field(max_length=2000)]


class DispatchIn(InputModel):
    from_place: str = Field(pattern=PLACE_REF_PATTERN, description="出荷する拠点 / the depot")
    vehicle: str = Field(default="", max_length=60, description="車両（ナンバー等） / vehicle")
    driver: str = Field(default="", max_length=100, description="運転者 / driver")
    driver_phone: str = Field(default="", max_length=30, pattern=r"^[0-9+\-() ]*$")
    departed_at: AwareDatetime | None = Field(default=None, description="出発（省略時は今）")
    expected_at: AwareDatetime | None = Field(default=None, description="到着予定 / ETA")
    note: Note = ""


class DiscrepancyIn(InputModel):
    kind: DiscrepancyKind
    note: Note = ""


class ReceiptLineIn(InputModel):
    line: str = Field(pattern=UUID_PATTERN, description="出荷明細ID / shipment line id")
    received: CountedQuantity = Field(description="届いて使える量 / the amount that arrived usable")
    discrepancy: DiscrepancyIn | None = Field(
        default=None,
        description="出荷量と違うときは必須（short, damaged, over） / required when the amount "
        "differs from what was shipped",
    )


class ReceiptIn(InputModel):
    arrived_at: AwareDatetime | None = None
    lines: list[ReceiptLineIn] = Field(
        default_factory=list,
        max_length=500,
        description="省略した明細は全量受領 / a line not listed arrived in full",
    )


class ShipmentLineOut(BaseModel):
    id: str
    request_line_id: str
    item_id: str
    lot_id: str
    shipped: QuantityOut
    received: QuantityOut


class DiscrepancyOut(BaseModel):
    id: str
    shipment_line_id: str
    kind: DiscrepancyKind
    quantity: QuantityOut
    note: str
    reported_by: str
    reported_at: UtcDateTime


class ShipmentOut(BaseModel):
    id: str
    request_id: str
    from_place_id: str
    to_place_id: str | None
    to_tenant: str
    status: ShipmentStatus
    vehicle: str
    driver: str
    driver_phone: str
    departed_at: UtcDateTime
    expected_at: UtcDateTime | None
    arrived_at: UtcDateTime | None
    dispatched_by: str
    received_by: str
    movement_id: str
    note: str
    lines: list[ShipmentLineOut]
    discrepancies: list[DiscrepancyOut]


class DonationLineIn(InputModel):
    """One item, or a kit (`kit` and `count`: a line per item the kit holds)."""

    item: str | None = Field(default=None, pattern=ITEM_CODE_PATTERN)
    quantity: PositiveQuantity | None = None
    expires_on: date | None = None
    kit: str | None = Field(
        default=None, pattern=ITEM_CODE_PATTERN, description="セット（乳児セットなど） / a kit"
    )
    count: int | None = Field(default=None, ge=1, le=100000, description="セットの数 / kits")

    @model_validator(mode="after")
    def _item_or_kit(self) -> DonationLineIn:
        if (self.item is None) == (self.kit is None):
            raise ValueError("item か kit のどちらか一つ / give either an item or a kit")
        if self.item is not None and (self.quantity is None or self.count is not None):
            raise ValueError("item には quantity だけ / an item line takes a quantity")
        if self.kit is not None and (self.count is None or self.quantity is not None):
            raise ValueError("kit には count だけ / a kit line takes a count only")
        return self


class DonationIn(InputModel):
    id: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        description="端末が作る申し出ID（UUID）: 同じ内容の再送は最初の記録（200）、違う内容は "
        "409 / the client's id: a resend with the same content answers the first record "
        "(200), other content is a 409",
    )
    donor: str = Field(min_length=1, max_length=200, description="寄付者 / donor")
    contact: str = Field(default="", max_length=200)
    note: Note = ""
    lines: list[DonationLineIn] = Field(min_length=1, max_length=200)


class DecisionIn(InputModel):
    note: Note = ""


class DonationReceiptIn(InputModel):
    place: str = Field(pattern=PLACE_REF_PATTERN, description="受け入れる拠点 / the depot")
    note: Note = ""


class DonationLineOut(BaseModel):
    item_id: str
    item_code: str
    quantity: QuantityOut
    expires_on: date | None


class DonationOut(BaseModel):
    id: str
    donor: str
    contact: str
    status: OfferStatus
    note: str
    offered_at: UtcDateTime
    recorded_by: str
    decided_at: UtcDateTime | None
    decided_by: str
    decision_note: str
    movement_id: str
    lines: list[DonationLineOut]
