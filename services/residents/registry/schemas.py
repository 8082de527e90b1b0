"""What the registry's HTTP API reads and writes (pydantic)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from residents.registry import fields
from residents.registry.models import (
    HEAD,
    Household,
    Move,
    MoveKind,
    Resident,
    Sex,
    Status,
    address_text,
)
from yui.db.types import UtcDateTime
from yui.text import CalendarDate, InputModel, MultiLine


def _name(value: str) -> str:
    return fields.name_part(value, required=True, label="氏 / family name")


def _given(value: str) -> str:
    return fields.name_part(value, required=False, label="名 / given name")


def _kana(value: str) -> str:
    return fields.kana_part(value, required=True, label="氏の振り仮名 / family name reading")


def _given_kana(value: str) -> str:
    return fields.kana_part(value, required=False, label="名の振り仮名 / given name reading")


def _resident_no(value: str) -> str:
    return fields.record_number(value, "宛名番号 / resident number")


def _household_no(value: str) -> str:
    return fields.record_number(value, "世帯番号 / household number")


def _past_date(value: date) -> date:
    return fields.check_date_range(value, "日付 / date")


FamilyName = Annotated[str, Field(max_length=200), AfterValidator(_name)]
GivenName = Annotated[str, Field(max_length=200), AfterValidator(_given)]
FamilyKana = Annotated[str, Field(max_length=200), AfterValidator(_kana)]
GivenKana = Annotated[str, Field(max_length=200), AfterValidator(_given_kana)]
ResidentNo = Annotated[
    str, Field(max_length=40, examples=["1000001"]), AfterValidator(_resident_no)
]
HouseholdNo = Annotated[
    str, Field(max_length=40, examples=["5000001"]), AfterValidator(_household_no)
]
Relationship = Annotated[
    str, Field(max_length=40, examples=["世帯主", "妻", "子"]), AfterValidator(fields.relationship)
]
PastDate = Annotated[CalendarDate, AfterValidator(_past_date)]
Phone = Annotated[str, Field(max_length=40), AfterValidator(fields.phone)]
Email = Annotated[str, Field(max_length=254), AfterValidator(fields.email)]
Language = Annotated[
    str, Field(max_length=16, examples=["ja", "en", "vi"]), AfterValidator(fields.language)
]
Nationality = Annotated[
    str,
    Field(
        max_length=60, description="国籍・地域 (外国人住民のみ) / nationality of a foreign resident"
    ),
    AfterValidator(lambda value: fields.text_field(value, "国籍・地域 / nationality", 60)),
]

Note = Annotated[
    str,
    Field(max_length=1000, description="備考（改行可） / note (may span lines)"),
    MultiLine(),
    AfterValidator(lambda value: fields.text_field(value, "備考 / note", 1000, multiline=True)),
]


class AddressIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    town_code: Annotated[
        str,
        Field(max_length=12, description="町字コード / 町字 code"),
        AfterValidator(fields.town_code),
    ] = ""
    town_name: Annotated[
        str,
        Field(max_length=80, examples=["青葉区一番町一丁目"], description="町字 / town"),
        AfterValidator(lambda value: fields.text_field(value, "町字 / town", 80, required=True)),
    ]
    block: Annotated[
        str,
        Field(max_length=40, examples=["2-3"], description="番地・住居番号 / block and number"),
        AfterValidator(lambda value: fields.text_field(value, "番地 / block", 40)),
    ] = ""
    building: Annotated[
        str,
        Field(max_length=80, description="方書 / building and room"),
        AfterValidator(lambda value: fields.text_field(value, "方書 / building", 80)),
    ] = ""
    latitude: float | None = Field(default=None, ge=20, le=46)
    longitude: float | None = Field(default=None, ge=122, le=154)


class AddressOut(BaseModel):
    town_code: str
    town_name: str
    block: str
    building: str
    latitude: float | None
    longitude: float | None
    text: str = Field(description="一行の住所 / the address on one line")


class ResidentIn(InputModel):
    """転入 or 出生: a person becomes a resident."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[MoveKind.MOVE_IN, MoveKind.BIRTH] = MoveKind.MOVE_IN
    effective_on: PastDate = Field(description="異動日 / the day it took effect")
    notified_on: PastDate | None = Field(default=None, description="届出日 / notified on")
    resident_no: ResidentNo
    household_no: HouseholdNo = Field(description="世帯番号: an existing or a new household")
    relationship: Relationship
    family_name: FamilyName
    given_name: GivenName = ""
    family_kana: FamilyKana
    given_kana: GivenKana = ""
    birth_date: PastDate
    sex: Sex
    nationality: Nationality = ""
    address: AddressIn
    phone: Phone = ""
    email: Email = ""
    language: Language = "ja"
    previous_address: Annotated[
        str,
        Field(max_length=250, description="転入前住所 / the address before moving in"),
        AfterValidator(
            lambda value: fields.text_field(value, "転入前住所 / previous address", 250)
        ),
    ] = ""

    @model_validator(mode="after")
    def _dates_in_order(self) -> ResidentIn:
        if self.effective_on < self.birth_date:
            raise ValueError("異動日が生年月日より前です / the move is dated before the birth")
        if self.kind == MoveKind.BIRTH and self.effective_on != self.birth_date:
            raise ValueError("出生の異動日は生年月日です / a birth takes effect on the birth date")
        return self


class ResidentPatch(InputModel):
    """Corrections of facts that are not 異動 (contact details, names, language)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the version read; a newer one on the server is a 409")
    family_name: FamilyName | None = None
    given_name: GivenName | None = None
    family_kana: FamilyKana | None = None
    given_kana: GivenKana | None = None
    nationality: Nationality | None = None
    phone: Phone | None = None
    email: Email | None = None
    language: Language | None = None
    latitude: float | None = Field(default=None, ge=20, le=46)
    longitude: float | None = Field(default=None, ge=122, le=154)


class MoveIn(InputModel):
    """異動 of a resident: 転居, 転出, 死亡, 世帯変更, or 転入 again after a 転出."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        MoveKind.RELOCATION,
        MoveKind.MOVE_OUT,
        MoveKind.DEATH,
        MoveKind.HOUSEHOLD_CHANGE,
        MoveKind.MOVE_IN,
    ]
    effective_on: PastDate = Field(description="異動日")
    notified_on: PastDate | None = Field(default=None, description="届出日")
    address: AddressIn | None = Field(default=None, description="転居・転入: the new address")
    household_no: HouseholdNo | None = Field(
        default=None, description="世帯変更 (or 転居・転入 into another household)"
    )
    relationship: Relationship | None = None
    other_address: Annotated[
        str,
        Field(max_length=250, description="転出先・転入元 / the other municipality's address"),
        AfterValidator(lambda value: fields.text_field(value, "転出先 / other address", 250)),
    ] = ""
    note: Note = ""
    version: int | None = Field(default=None, ge=1, description="the version read, if any")

    @model_validator(mode="after")
    def _what_each_kind_needs(self) -> MoveIn:
        if self.kind in (MoveKind.RELOCATION, MoveKind.MOVE_IN) and self.address is None:
            raise ValueError(
                "転居・転入には新しい住所が必要です / a relocation needs the new address"
            )
        if self.kind == MoveKind.HOUSEHOLD_CHANGE and (
            self.household_no is None or self.relationship is None
        ):
            raise ValueError(
                "世帯変更には世帯番号と続柄が必要です / a household change needs household_no and "
                "relationship"
            )
        if (self.household_no is None) != (self.relationship is None):
            raise ValueError(
                "世帯番号と続柄は両方指定してください / give household_no and relationship together"
            )
        return self


class HouseholdMoveIn(InputModel):
    """転居 of a whole household: every active member moves on the same day."""

    model_config = ConfigDict(extra="forbid")

    effective_on: PastDate
    notified_on: PastDate | None = None
    address: AddressIn
    note: Note = ""


class DvBlockIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    blocked: bool = Field(description="支援措置の対象とする / under a DV-support block")
    since: PastDate | None = Field(default=None, description="開始日 (default: today)")


class HouseholdRef(BaseModel):
    id: str
    household_no: str


class ResidentOut(BaseModel):
    id: str
    resident_no: str
    household: HouseholdRef
    relationship: str
    is_head: bool
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: Sex
    nationality: str
    status: Status
    status_on: date | None
    became_resident_on: date | None
    address_since: date | None
    state_since: date
    address: AddressOut
    phone: str
    email: str
    language: str
    dv_block: bool
    dv_block_since: date | None
    needs_assistance: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime
    version: int


class ResidentSummary(BaseModel):
    id: str
    resident_no: str
    household_no: str
    relationship: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: Sex
    status: Status
    address: str
    dv_block: bool


class MoveOut(BaseModel):
    id: str
    kind: MoveKind
    effective_on: date
    notified_on: date | None
    from_household_id: str | None
    to_household_id: str | None
    from_address: str
    to_address: str
    other_address: str
    note: str
    recorded_by: str
    recorded_at: UtcDateTime


class MemberOut(BaseModel):
    id: str
    resident_no: str
    relationship: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: Sex
    status: Status


class HouseholdOut(BaseModel):
    id: str
    household_no: str
    head_id: str | None
    members: list[MemberOut]


class Occupant(BaseModel):
    """One person who lived at an address, or in a household, on the day asked."""

    resident_id: str
    resident_no: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    household_id: str
    relationship: str
    address: str
    since: date
    until: date | None = Field(description="exclusive; null when still so today")


class OccupantsOut(BaseModel):
    on: date
    occupants: list[Occupant]


# --- from rows --------------------------------------------------------------------------


def address_out(row: Resident) -> AddressOut:
    return AddressOut(
        town_code=row.town_code,
        town_name=row.town_name,
        block=row.block,
        building=row.building,
        latitude=row.latitude,
        longitude=row.longitude,
        text=address_text(row.town_name, row.block, row.building),
    )


def resident_out(row: Resident, household: Household, *, needs_assistance: bool) -> ResidentOut:
    return ResidentOut(
        id=row.id,
        resident_no=row.resident_no,
        household=HouseholdRef(id=household.id, household_no=household.household_no),
        relationship=row.relationship,
        is_head=row.relationship == HEAD,
        family_name=row.family_name,
        given_name=row.given_name,
        family_kana=row.family_kana,
        given_kana=row.given_kana,
        birth_date=row.birth_date,
        sex=Sex(row.sex),
        nationality=row.nationality,
        status=Status(row.status),
        status_on=row.status_on,
        became_resident_on=row.became_resident_on,
        address_since=row.address_since,
        state_since=row.state_since,
        address=address_out(row),
        phone=row.phone,
        email=row.email,
        language=row.language,
        dv_block=row.dv_block,
        dv_block_since=row.dv_block_since,
        needs_assistance=needs_assistance,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def resident_summary(row: Resident, household_no: str) -> ResidentSummary:
    return ResidentSummary(
        id=row.id,
        resident_no=row.resident_no,
        household_no=household_no,
        relationship=row.relationship,
        family_name=row.family_name,
        given_name=row.given_name,
        family_kana=row.family_kana,
        given_kana=row.given_kana,
        birth_date=row.birth_date,
        sex=Sex(row.sex),
        status=Status(row.status),
        address=address_text(row.town_name, row.block, row.building),
        dv_block=row.dv_block,
    )


def move_out(row: Move) -> MoveOut:
    return MoveOut(
        id=row.id,
        kind=MoveKind(row.kind),
        effective_on=row.effective_on,
        notified_on=row.notified_on,
        from_household_id=row.from_household_id,
        to_household_id=row.to_household_id,
        from_address=row.from_address,
        to_address=row.to_address,
        other_address=row.other_address,
        note=row.note,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


def member_out(row: Resident) -> MemberOut:
    return MemberOut(
        id=row.id,
        resident_no=row.resident_no,
        relationship=row.relationship,
        family_name=row.family_name,
        given_name=row.given_name,
        family_kana=row.family_kana,
        given_kana=row.given_kana,
        birth_date=row.birth_date,
        sex=Sex(row.sex),
        status=Status(row.status),
    )
