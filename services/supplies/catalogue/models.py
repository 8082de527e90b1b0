"""The catalogue of relief items: what an item is, its unit, and what need it meets.

An item is counted in one unit. `whole_units` says whether a quantity may have a
fraction: bottles, meals, blankets and diapers come whole (2.5 blankets is refused);
rice by the kilogram or water from a tank by the litre need not. A need code and an
amount per unit tie an item to the standards table (needs/): a 2 L bottle meets 2 of
`drinking_water_l`, an アルファ米 meal 360 of `food_kcal`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped


class Category(StrEnum):
    WATER = "water"  # 飲料水
    FOOD = "food"  # 食料
    INFANT = "infant"  # 乳幼児用品
    HYGIENE = "hygiene"  # 衛生用品
    SANITATION = "sanitation"  # トイレ
    BEDDING = "bedding"  # 寝具
    MEDICAL = "medical"  # 医薬品・衛生材料
    OTHER = "other"  # その他


class Item(TenantScoped, Base):
    __tablename__ = "supplies_items"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_supplies_items_tenant_code"),)

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    #: a stable short code (e.g. "water-2l"): what a CLI, a request and EDXL-RM name
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name_ja: Mapped[str] = mapped_column(String(100), nullable=False)
    name_en: Mapped[str] = mapped_column(String(100), nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    #: the unit a quantity counts (本, 食, 枚, 個, 箱, kg, L …) and its English
    unit_ja: Mapped[str] = mapped_column(String(16), nullable=False)
    unit_en: Mapped[str] = mapped_column(String(16), nullable=False)
    #: False when the unit allows fractions (kg, L); True for bottles, meals, pieces
    whole_units: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: typical shelf life, days (None: does not expire, like blankets)
    shelf_life_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the need of the standards table this item meets, and how much of it one unit meets
    need_code: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    need_per_unit: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False, default=0)
    #: free of the 特定原材料 (the allergens Japanese labels must declare)
    allergen_free: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
