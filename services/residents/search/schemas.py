"""Search parameters and result pages."""

from __future__ import annotations

from pydantic import BaseModel, Field

from residents.registry.schemas import ResidentSummary
from yui.text import CalendarDate, InputModel


class SearchQuery(InputModel):
    """What to look for; the filters combine (AND)."""

    q: str = Field(
        default="",
        max_length=100,
        description="氏名（漢字・かな・カナ・半角・全角、空白は無視） / name in kanji or kana",
    )
    address: str = Field(default="", max_length=200, description="住所の前方一致 / address prefix")
    birth_date: CalendarDate | None = Field(default=None, description="生年月日 / date of birth")
    household_no: str = Field(default="", max_length=40, description="世帯番号 / household number")
    include_inactive: bool = Field(default=False, description="転出・死亡した住民も含める")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str = Field(default="", max_length=400, description="next_cursor of the previous page")


class SearchPage(BaseModel):
    items: list[ResidentSummary]
    next_cursor: str | None = Field(description="次のページ / the next page, or null at the end")
