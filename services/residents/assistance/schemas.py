"""The needs-assistance register over HTTP."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from residents.assistance.models import AssistanceEntry, Reason, Supporter
from residents.registry import fields
from residents.registry.models import Resident, Sex, address_text
from yui.db.types import UtcDateTime
from yui.text import CalendarDate, InputModel, MultiLine

CARE_LEVELS = ("", "要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5")


def _care_level(value: str) -> str:
    text = fields.text_field(value, "要介護度 / care level", 10).replace("１", "1")
    if text not in CARE_LEVELS:
        raise ValueError(
            f"要介護度は {'、'.join(CARE_LEVELS[1:])} のいずれかです / care level is one of "
            f"{', '.join(CARE_LEVELS[1:])}"
        )
    return text


class SupporterIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, Field(max_length=100), AfterValidator(lambda v: fields.name_part(v, required=True))
    ]
    role: Annotated[
        str,
        Field(max_length=30, examples=["家族", "民生委員", "自主防災組織", "近隣住民"]),
        AfterValidator(lambda v: fields.text_field(v, "役割 / role", 30)),
    ] = ""
    phone: Annotated[str, Field(max_length=40), AfterValidator(fields.phone)] = ""
    email: Annotated[str, Field(max_length=254), AfterValidator(fields.email)] = ""


class AssistanceIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    reasons: list[Reason] = Field(min_length=1, max_length=8)
    care_level: Annotated[str, Field(max_length=10), AfterValidator(_care_level)] = ""
    needs: Annotated[
        str,
        Field(max_length=1000, description="支援に必要なこと / what helpers need to know"),
        MultiLine(),
        AfterValidator(lambda v: fields.text_field(v, "必要な支援 / needs", 1000, multiline=True)),
    ] = ""
    priority: int = Field(default=2, ge=1, le=3, description="1 = reach first")
    consent_to_share: bool = Field(
        default=False, description="平常時の名簿提供への同意 / consents to sharing in normal times"
    )
    consent_on: CalendarDate | None = None
    supporters: list[SupporterIn] = Field(default_factory=list, max_length=10)


class SupporterOut(BaseModel):
    name: str
    role: str
    phone: str
    email: str


class AssistanceOut(BaseModel):
    resident_id: str
    reasons: list[Reason]
    care_level: str
    needs: str
    priority: int
    consent_to_share: bool
    consent_on: date | None
    registered_on: date
    updated_at: UtcDateTime
    supporters: list[SupporterOut]


class RegisterEntryOut(BaseModel):
    """One line of the register: who, where, why, and who helps."""

    resident_id: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: Sex
    address: str
    phone: str
    language: str
    reasons: list[Reason]
    care_level: str
    needs: str
    priority: int
    consent_to_share: bool
    supporters: list[SupporterOut]
    dv_block: bool = Field(description="always false in a list for non-staff (they are left out)")


def supporter_out(row: Supporter) -> SupporterOut:
    return SupporterOut(name=row.name, role=row.role, phone=row.phone, email=row.email)


def assistance_out(entry: AssistanceEntry, supporters: list[Supporter]) -> AssistanceOut:
    return AssistanceOut(
        resident_id=entry.resident_id,
        reasons=[Reason(reason) for reason in entry.reasons],
        care_level=entry.care_level,
        needs=entry.needs,
        priority=entry.priority,
        consent_to_share=entry.consent_to_share,
        consent_on=entry.consent_on,
        registered_on=entry.registered_on,
        updated_at=entry.updated_at,
        supporters=[supporter_out(row) for row in supporters],
    )


def register_entry_out(
    entry: AssistanceEntry, resident: Resident, supporters: list[Supporter]
) -> RegisterEntryOut:
    return RegisterEntryOut(
        resident_id=resident.id,
        family_name=resident.family_name,
        given_name=resident.given_name,
        family_kana=resident.family_kana,
        given_kana=resident.given_kana,
        birth_date=resident.birth_date,
        sex=Sex(resident.sex),
        address=address_text(resident.town_name, resident.block, resident.building),
        phone=resident.phone,
        language=resident.language,
        reasons=[Reason(reason) for reason in entry.reasons],
        care_level=entry.care_level,
        needs=entry.needs,
        priority=entry.priority,
        consent_to_share=entry.consent_to_share,
        supporters=[supporter_out(row) for row in supporters],
        dv_block=resident.dv_block,
    )
