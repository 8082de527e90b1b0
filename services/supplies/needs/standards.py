"""The standards table: how much each person needs, and where each number comes from.

Each value may be changed per municipality (`supplies_standard_overrides`, through the
API or `yui supplies standards set`), e.g. where its 地域防災計画 stockpiles more; a
value not overridden is the default below. Sources:

- Sphere Handbook 2018 (Water supply standard 2.1; Food security standard 6.1; Shelter
  standard 3: 3.5 m² of covered living space per person; Excreta management 3.2: one
  toilet per 20 people, one per 50 in the first phase);
- 内閣府「避難所における良好な生活環境の確保に向けた取組指針」と「避難所におけるトイレの確保・管理
  ガイドライン」(2016, 改定 2024): drinking water 3 L a day, one toilet per about 50 people
  at first and per about 20 when the stay lasts, five toilet uses per person a day;
- 厚生労働省・日本栄養士会 の乳児の目安 (about 8 diapers and about 120 g of formula a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Basis(StrEnum):
    """Whom a need counts: every person, or the people of one make-up category."""

    PERSON = "person"
    INFANT = "infant"
    NEEDS_CARE = "needs_care"
    MENSTRUATING = "menstruating"
    ALLERGY = "allergy"


@dataclass(frozen=True)
class Standard:
    key: str
    value: Decimal
    unit: str
    label_ja: str
    label_en: str
    source: str


@dataclass(frozen=True)
class SupplyNeed:
    """A need met from stock: `need_code` is what catalogue items name (Item.need_code)."""

    need_code: str
    #: the standard giving the amount per person (of `basis`) per day
    standard: str
    basis: Basis
    #: False: held once per person (a blanket), not consumed each day
    per_day: bool = True


DEFAULTS: tuple[Standard, ...] = (
    Standard(
        "drinking_water_l",
        Decimal(3),
        "L/person/day",
        "飲料水",
        "drinking water",
        "内閣府 取組指針; Sphere 2.1 (2.5-3 L survival)",
    ),
    Standard(
        "food_kcal",
        Decimal(2100),
        "kcal/person/day",
        "食料（熱量）",
        "food energy",
        "Sphere food security 6.1",
    ),
    Standard(
        "allergy_free_meals",
        Decimal(3),
        "meals/person/day",
        "アレルギー対応食",
        "allergen-free meals",
        "内閣府 取組指針 (食物アレルギーへの配慮)",
    ),
    Standard(
        "infant_formula_g",
        Decimal(120),
        "g/infant/day",
        "乳児用ミルク（粉換算）",
        "infant formula (as powder)",
        "厚生労働省 乳児の目安",
    ),
    Standard(
        "infant_diapers",
        Decimal(8),
        "pieces/infant/day",
        "乳児用おむつ",
        "infant diapers",
        "厚生労働省 乳児の目安",
    ),
    Standard(
        "adult_diapers",
        Decimal(5),
        "pieces/person needing care/day",
        "大人用おむつ",
        "adult diapers",
        "内閣府 取組指針 (要配慮者)",
    ),
    Standard(
        "sanitary_pads",
        Decimal(5),
        "pieces/person/day",
        "生理用品",
        "sanitary pads",
        "Sphere WASH 4.2 (menstrual hygiene)",
    ),
    Standard(
        "toilet_uses",
        Decimal(5),
        "uses/person/day",
        "簡易トイレ（回分）",
        "portable toilet uses",
        "内閣府 トイレガイドライン",
    ),
    Standard("blankets", Decimal(1), "pieces/person", "毛布", "blankets", "内閣府 取組指針 (寝具)"),
    Standard(
        "people_per_toilet_initial",
        Decimal(50),
        "people/toilet",
        "トイレ（当初）",
        "toilets (first days)",
        "内閣府 トイレガイドライン; Sphere 3.2",
    ),
    Standard(
        "people_per_toilet_later",
        Decimal(20),
        "people/toilet",
        "トイレ（長期化後）",
        "toilets (longer stays)",
        "内閣府 トイレガイドライン; Sphere 3.2",
    ),
    Standard(
        "toilet_later_after_days",
        Decimal(7),
        "days",
        "長期化とみなす日数",
        "days after which a stay counts as long",
        "自治体の判断 (municipal choice)",
    ),
    Standard(
        "floor_m2_per_person",
        Decimal("3.5"),
        "m²/person",
        "居住面積",
        "living space",
        "Sphere shelter standard 3",
    ),
)
BY_KEY = {standard.key: standard for standard in DEFAULTS}

SUPPLY_NEEDS: tuple[SupplyNeed, ...] = (
    SupplyNeed("drinking_water_l", "drinking_water_l", Basis.PERSON),
    SupplyNeed("food_kcal", "food_kcal", Basis.PERSON),
    SupplyNeed("allergy_free_meals", "allergy_free_meals", Basis.ALLERGY),
    SupplyNeed("infant_formula_g", "infant_formula_g", Basis.INFANT),
    SupplyNeed("infant_diapers", "infant_diapers", Basis.INFANT),
    SupplyNeed("adult_diapers", "adult_diapers", Basis.NEEDS_CARE),
    SupplyNeed("sanitary_pads", "sanitary_pads", Basis.MENSTRUATING),
    SupplyNeed("toilet_uses", "toilet_uses", Basis.PERSON),
    SupplyNeed("blankets", "blankets", Basis.PERSON, per_day=False),
)
NEED_CODES = frozenset(need.need_code for need in SUPPLY_NEEDS)
