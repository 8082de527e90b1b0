"""Check-ins, check-outs and occupancy in and out."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from supplies.evacuees.models import CheckOutReason, EvacueeKind, NeedCategory, Stay
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: the largest party one check-in may count (a train's stranded passengers arrive by the hundred)
MAX_PARTY = 1000


class CheckInIn(InputModel):
    id: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        description="端末が作る受付ID（UUID）: 再送しても一度だけ記録 / the client's id",
    )
    kind: EvacueeKind
    resident_id: str = Field(
        default="", description="住民ID（kind=resident のとき） / the registry's id (residents)"
    )
    label: str = Field(
        default="",
        max_length=100,
        description="住民記録にない人の呼び名・目印 / how an unregistered party is called",
    )
    people: int = Field(default=1, ge=1, le=MAX_PARTY, description="人数（住民は 1） / people")
    makeup: dict[NeedCategory, Annotated[int, Field(ge=0, le=MAX_PARTY)]] = Field(
        default_factory=dict,
        description="配慮の必要な人数（区分ごと、件数のみ） / people per need category (counts)",
    )
    care_note: Annotated[str, MultiLine()] = Field(
        default="",
        max_length=2000,
        description="職員のみ: 支援に必要な詳細 / staff only: what carers must know",
    )
    checked_in_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CheckInIn:
        if self.kind == EvacueeKind.RESIDENT:
            if not re.fullmatch(UUID_PATTERN, self.resident_id):
                raise ValueError("住民には住民IDが必要です / a resident needs the resident id")
            if self.people != 1:
                raise ValueError("住民の受付は 1 人ずつです / a resident checks in alone")
        elif self.resident_id:
            raise ValueError(
                "住民ID は kind=resident のときだけです / a resident id means kind=resident"
            )
        for category, count in self.makeup.items():
            if count > self.people:
                raise ValueError(
                    f"{category.value} の人数が受付人数を超えています / more {category.value} "
                    "than people"
                )
        return self


class CheckOutIn(InputModel):
    stay_id: str | None = Field(default=None, pattern=UUID_PATTERN, description="受付ID")
    resident_id: str | None = Field(default=None, pattern=UUID_PATTERN, description="住民ID")
    reason: CheckOutReason = CheckOutReason.LEFT
    checked_out_at: AwareDatetime | None = None
    people: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARTY,
        description="一団の一部が退所するときの人数（省略: 全員） / how many of a party leave "
        "(default: all of it)",
    )
    makeup: dict[NeedCategory, Annotated[int, Field(ge=0, le=MAX_PARTY)]] = Field(
        default_factory=dict,
        description="退所する人のうち配慮の必要な人数 / the leavers' people per need category",
    )
    id: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        description="一部退所の記録ID（UUID）: 再送しても一度だけ / the client's id of a partial "
        "check-out: a resend is recorded once",
    )

    @model_validator(mode="after")
    def _one_of(self) -> CheckOutIn:
        if (self.stay_id is None) == (self.resident_id is None):
            raise ValueError(
                "受付ID か住民ID のどちらか一つを指定してください / give a stay id or a resident id"
            )
        if (self.makeup or self.id) and self.people is None:
            raise ValueError(
                "内訳・記録ID は人数と一緒に指定してください / makeup and id go with people"
            )
        for category, count in self.makeup.items():
            if self.people is not None and count > self.people:
                raise ValueError(
                    f"{category.value} の人数が退所人数を超えています / more {category.value} "
                    "than people leaving"
                )
        return self


class StayOut(BaseModel):
    id: str
    shelter_id: str
    kind: EvacueeKind
    resident_id: str
    label: str
    people: int
    makeup: dict[NeedCategory, int]
    #: null unless the reader's role may read it (staff)
    care_note: str | None
    checked_in_at: UtcDateTime
    checked_in_by: str
    checked_out_at: UtcDateTime | None
    check_out_reason: CheckOutReason | None


class OccupancyOut(BaseModel):
    shelter_id: str
    shelter_code: str
    name: str
    is_open: bool
    #: people checked in now
    people: int
    stays: int
    capacity_day: int
    capacity_night: int
    over_capacity_night: bool
    #: people per need category, counts only
    makeup: dict[NeedCategory, int]


class OccupancyPoint(BaseModel):
    at: UtcDateTime
    people: int


class OccupancyHistoryOut(BaseModel):
    shelter_id: str
    points: list[OccupancyPoint]
    peak: int


def stay_out(stay: Stay, *, with_care_note: bool) -> StayOut:
    return StayOut(
        id=stay.id,
        shelter_id=stay.shelter_id,
        kind=EvacueeKind(stay.kind),
        resident_id=stay.resident_id,
        label=stay.label,
        people=stay.people,
        makeup={NeedCategory(key): value for key, value in stay.makeup.items()},
        care_note=stay.care_note if with_care_note else None,
        checked_in_at=stay.checked_in_at,
        checked_in_by=stay.checked_in_by,
        checked_out_at=stay.checked_out_at,
        check_out_reason=CheckOutReason(stay.check_out_reason) if stay.check_out_reason else None,
    )
