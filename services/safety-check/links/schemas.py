"""What a one-tap link's page sends and gets back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from safety_check.reports.schemas import NOTE_MAX_CHARS, UUID_PATTERN
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine


class OneTapStatus(StrEnum):
    """What a resident may say of themselves through their link (the local values)."""

    SAFE = "safe"  # 無事
    INJURED = "injured"  # けがをしている
    NEEDS_HELP = "needs_help"  # 助けが必要
    AT_SHELTER = "at_shelter"  # 避難所にいる


class OneTapIn(InputModel):
    id: str = Field(
        pattern=UUID_PATTERN,
        description="端末が作る報告ID（UUID、小文字）。再送しても一度だけ記録 / the client's id: "
        "sent again, recorded once",
    )
    status: OneTapStatus
    reported_at: AwareDatetime = Field(
        description="押した時刻（端末が決め、再送でも同じ） / when the button was pressed (the "
        "phone's, the same at every resend)"
    )
    shelter: str = Field(default="", max_length=100, description="避難所名 / shelter")
    location: str = Field(default="", max_length=200, description="いる場所 / where you are")
    note: Annotated[str, MultiLine()] = Field(default="", max_length=NOTE_MAX_CHARS)


class OneTapOut(BaseModel):
    """The report as its sender may see it (nothing from the registry)."""

    id: str
    campaign_id: str
    status: str
    reported_at: UtcDateTime
    received_at: UtcDateTime


class LinkOut(BaseModel):
    """What the link's page shows before the tap: the campaign, nothing about the person."""

    campaign_id: str
    title: str
    open: bool
    expires_at: datetime
    statuses: list[OneTapStatus]
