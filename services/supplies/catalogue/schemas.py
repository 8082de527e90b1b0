"""Catalogue items in and out."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from supplies.catalogue.models import Category, Item
from supplies.quantities import QuantityOut
from yui.text import InputModel

ITEM_CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"


class ItemIn(InputModel):
    code: str = Field(pattern=ITEM_CODE_PATTERN, description="例: water-2l（英小文字・数字・-）")
    name_ja: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    category: Category
    unit_ja: str = Field(min_length=1, max_length=16, description="本, 食, 枚, kg, L …")
    unit_en: str = Field(min_length=1, max_length=16)
    whole_units: bool = Field(
        default=True, description="端数を認めない単位か / counted in whole units only"
    )
    shelf_life_days: int | None = Field(default=None, ge=1, le=36500)
    need_code: str = Field(
        default="", max_length=32, description="needs/standards の需要コード / the need it meets"
    )
    need_per_unit: Decimal = Field(
        default=Decimal(0), ge=0, le=Decimal(1_000_000), max_digits=12, decimal_places=3
    )
    allergen_free: bool = False


class ItemOut(BaseModel):
    id: str
    code: str
    name_ja: str
    name_en: str
    category: Category
    unit_ja: str
    unit_en: str
    whole_units: bool
    shelf_life_days: int | None
    need_code: str
    need_per_unit: QuantityOut
    allergen_free: bool
    active: bool


def item_out(item: Item) -> ItemOut:
    return ItemOut(
        id=item.id,
        code=item.code,
        name_ja=item.name_ja,
        name_en=item.name_en,
        category=Category(item.category),
        unit_ja=item.unit_ja,
        unit_en=item.unit_en,
        whole_units=item.whole_units,
        shelf_life_days=item.shelf_life_days,
        need_code=item.need_code,
        need_per_unit=item.need_per_unit,
        allergen_free=item.allergen_free,
        active=item.active,
    )
