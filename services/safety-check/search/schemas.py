"""What a citizen sends and the little the search answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from safety_check.reports.models import SafetyStatus
from yui.db.types import UtcDateTime
from yui.text import CalendarDate, InputModel, LineText


class PublicStatus(StrEnum):
    """The only statuses a citizen's search reveals: never where the person is."""

    SAFE = "safe"  # 無事（避難所にいる、本人の書き込み、生存と思われる を含む）
    INJURED = "injured"  # けが
    NEEDS_HELP = "needs_help"  # 救助・支援が必要
    MISSING = "missing"  # 行方不明と思われる
    NO_INFORMATION = "no_information"  # まだ情報がない
    #: believed_dead is not told to an unverified searcher: the municipality tells the family
    CONTACT_MUNICIPALITY = "contact_municipality"


#: a report's status as the public sees it (at_shelter is "safe": the shelter is never told)
PUBLIC_STATUS = {
    SafetyStatus.SAFE: PublicStatus.SAFE,
    SafetyStatus.AT_SHELTER: PublicStatus.SAFE,
    SafetyStatus.IS_NOTE_AUTHOR: PublicStatus.SAFE,
    SafetyStatus.BELIEVED_ALIVE: PublicStatus.SAFE,
    SafetyStatus.INJURED: PublicStatus.INJURED,
    SafetyStatus.NEEDS_HELP: PublicStatus.NEEDS_HELP,
    SafetyStatus.BELIEVED_MISSING: PublicStatus.MISSING,
    SafetyStatus.INFORMATION_SOUGHT: PublicStatus.NO_INFORMATION,
    SafetyStatus.BELIEVED_DEAD: PublicStatus.CONTACT_MUNICIPALITY,
}


class SearchIn(InputModel):
    name: LineText = Field(
        min_length=2,
        max_length=100,
        description="氏名（漢字またはカナ、姓と名の両方。空白は無視） / the full name, written or "
        "read (family and given name; spaces ignored)",
        examples=["佐藤 花子"],
    )
    birth_date: CalendarDate = Field(
        description="生年月日 / date of birth", examples=["1980-05-06"]
    )


class Match(BaseModel):
    """One registered person with that name and birth date: a status and its time, nothing
    else (no address, phone, shelter or district)."""

    status: PublicStatus
    #: the report time of that status; None when there is no report yet
    reported_at: UtcDateTime | None


class TenantAnswer(BaseModel):
    """One municipality's answer."""

    tenant: str
    municipality: str
    #: False when the municipality has no live safety confirmation open: nothing is searched
    searching: bool
    matches: list[Match]


class Found(BaseModel):
    tenant: str
    municipality: str
    matches: list[Match]


class SearchAnswer(BaseModel):
    """The answer across every municipality the platform serves."""

    found: list[Found]
    #: how many municipalities were asked
    asked: int
    #: municipalities that could not answer now (their primary unreachable, being
    #: replaced, or this client's limit there): search again shortly
    unavailable: list[str]
    #: when the answer was put together
    at: datetime
