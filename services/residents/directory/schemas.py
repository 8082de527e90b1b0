"""What a shelter's screen (or any non-staff reader) gets: the minimum."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from residents.assistance.models import Reason
from residents.assistance.schemas import SupporterOut
from residents.registry.models import Sex


class DirectoryEntry(BaseModel):
    """A registered resident as a shelter needs to know them: who, which 町字, which
    household (to seat a family together), which language, whether they need help."""

    id: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: Sex
    town_name: str
    household_id: str
    language: str
    needs_assistance: bool


class DirectoryPage(BaseModel):
    items: list[DirectoryEntry]
    next_cursor: str | None = None


class SharedAssistanceEntry(BaseModel):
    """A line of the register as it may be shared (no DV-blocked person ever appears)."""

    id: str
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
    needs: str
    priority: int = Field(description="1 = reach first")
    supporters: list[SupporterOut]
