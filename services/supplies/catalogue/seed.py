"""The seed catalogue: what Japanese municipalities stockpile for shelters.

Need codes and amounts tie each item to the standards table (needs/standards.py):
a 2 L bottle meets 2 L of drinking water, an アルファ米 meal about 360 kcal (the makers'
labels say 350-380), a 非常食 set (a ration of crackers and a main dish) about 500 kcal.
Shelf lives are the makers' usual ones (保存水 5-7 years, アルファ米 5 years).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from supplies.catalogue.models import Category


@dataclass(frozen=True)
class SeedItem:
    code: str
    name_ja: str
    name_en: str
    category: Category
    unit_ja: str
    unit_en: str
    whole_units: bool = True
    shelf_life_days: int | None = None
    need_code: str = ""
    need_per_unit: Decimal = Decimal(0)
    allergen_free: bool = False


YEAR = 365
SEED_CATALOGUE: tuple[SeedItem, ...] = (
    SeedItem(
        "water-2l",
        "保存水 2L",
        "Drinking water 2 L",
        Category.WATER,
        "本",
        "bottle",
        shelf_life_days=5 * YEAR,
        need_code="drinking_water_l",
        need_per_unit=Decimal(2),
    ),
    SeedItem(
        "water-500ml",
        "保存水 500mL",
        "Drinking water 500 mL",
        Category.WATER,
        "本",
        "bottle",
        shelf_life_days=5 * YEAR,
        need_code="drinking_water_l",
        need_per_unit=Decimal("0.5"),
    ),
    SeedItem(
        "water-bulk",
        "給水（タンク）",
        "Water from a tank",
        Category.WATER,
        "L",
        "L",
        whole_units=False,
        shelf_life_days=3,
        need_code="drinking_water_l",
        need_per_unit=Decimal(1),
    ),
    SeedItem(
        "alpha-rice",
        "アルファ米",
        "Instant rice (alpha rice)",
        Category.FOOD,
        "食",
        "meal",
        shelf_life_days=5 * YEAR,
        need_code="food_kcal",
        need_per_unit=Decimal(360),
    ),
    SeedItem(
        "emergency-meal",
        "非常食セット",
        "Emergency meal set",
        Category.FOOD,
        "食",
        "meal",
        shelf_life_days=5 * YEAR,
        need_code="food_kcal",
        need_per_unit=Decimal(500),
    ),
    SeedItem(
        "biscuits",
        "乾パン・ビスケット",
        "Hard biscuits",
        Category.FOOD,
        "缶",
        "can",
        shelf_life_days=5 * YEAR,
        need_code="food_kcal",
        need_per_unit=Decimal(500),
    ),
    SeedItem(
        "allergy-free-meal",
        "アレルギー対応食（特定原材料不使用）",
        "Allergen-free meal (none of the declared allergens)",
        Category.FOOD,
        "食",
        "meal",
        shelf_life_days=5 * YEAR,
        need_code="allergy_free_meals",
        need_per_unit=Decimal(1),
        allergen_free=True,
    ),
    SeedItem(
        "rice-bulk",
        "精米",
        "Rice",
        Category.FOOD,
        "kg",
        "kg",
        whole_units=False,
        shelf_life_days=YEAR,
        need_code="food_kcal",
        need_per_unit=Decimal(3420),
    ),
    SeedItem(
        "formula-powder",
        "粉ミルク",
        "Infant formula (powder)",
        Category.INFANT,
        "g",
        "g",
        shelf_life_days=540,
        need_code="infant_formula_g",
        need_per_unit=Decimal(1),
    ),
    SeedItem(
        "formula-liquid",
        "液体ミルク（240mL）",
        "Liquid infant formula (240 mL)",
        Category.INFANT,
        "本",
        "bottle",
        shelf_life_days=YEAR,
        need_code="infant_formula_g",
        need_per_unit=Decimal(32),
    ),
    SeedItem(
        "diaper-infant",
        "乳児用おむつ",
        "Infant diaper",
        Category.INFANT,
        "枚",
        "piece",
        shelf_life_days=3 * YEAR,
        need_code="infant_diapers",
        need_per_unit=Decimal(1),
    ),
    SeedItem(
        "diaper-adult",
        "大人用おむつ",
        "Adult diaper",
        Category.HYGIENE,
        "枚",
        "piece",
        shelf_life_days=3 * YEAR,
        need_code="adult_diapers",
        need_per_unit=Decimal(1),
    ),
    SeedItem(
        "sanitary-pad",
        "生理用品（ナプキン）",
        "Sanitary pad",
        Category.HYGIENE,
        "枚",
        "piece",
        shelf_life_days=3 * YEAR,
        need_code="sanitary_pads",
        need_per_unit=Decimal(1),
    ),
    SeedItem(
        "portable-toilet",
        "簡易トイレ（凝固剤・袋）",
        "Portable toilet kit (bag and gel)",
        Category.SANITATION,
        "回分",
        "use",
        shelf_life_days=10 * YEAR,
        need_code="toilet_uses",
        need_per_unit=Decimal(1),
    ),
    SeedItem(
        "toilet-paper", "トイレットペーパー", "Toilet paper", Category.SANITATION, "巻", "roll"
    ),
    SeedItem(
        "blanket",
        "毛布",
        "Blanket",
        Category.BEDDING,
        "枚",
        "piece",
        need_code="blankets",
        need_per_unit=Decimal(1),
    ),
    SeedItem(
        "mat", "マット・段ボールベッド", "Mat or cardboard bed", Category.BEDDING, "台", "unit"
    ),
    SeedItem(
        "masks", "マスク", "Face mask", Category.MEDICAL, "枚", "piece", shelf_life_days=5 * YEAR
    ),
    SeedItem(
        "disinfectant",
        "消毒液",
        "Hand sanitizer",
        Category.MEDICAL,
        "L",
        "L",
        whole_units=False,
        shelf_life_days=3 * YEAR,
    ),
)
