"""Needs per shelter and day, from occupancy and its make-up and the standards table,
and the shortfalls against the stock at each shelter and in total.

Occupancy is the people checked in now (planning looks at who is there), or as it was at
a past moment `at` (what was needed then, from the stays' history); `on` is the
day planned for: it decides the day of the stay (the toilet standard tightens after
`toilet_later_after_days`) and which lots are still in date. `days` multiplies the
daily needs (stock for three days: days=3); a need held once per person (a blanket)
is not multiplied.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supplies.catalogue.models import Item
from supplies.evacuees import service as evacuees
from supplies.evacuees.models import NeedCategory
from supplies.needs.models import StandardOverride
from supplies.needs.schemas import (
    FacilityLine,
    NeedLine,
    NeedsOut,
    ShelterNeedsOut,
    StandardOut,
    TotalLine,
)
from supplies.needs.standards import BY_KEY, DEFAULTS, SUPPLY_NEEDS, Basis
from supplies.places.models import DEPOT_KINDS, Place
from supplies.stock.models import StockBalance
from supplies.stock.service import local_date
from yui.audit import service as audit
from yui.errors import NotFound

BASIS_CATEGORY = {
    Basis.INFANT: NeedCategory.INFANT,
    Basis.NEEDS_CARE: NeedCategory.NEEDS_CARE,
    Basis.MENSTRUATING: NeedCategory.MENSTRUATING,
    Basis.ALLERGY: NeedCategory.ALLERGY,
}


def standards(session: Session) -> dict[str, Decimal]:
    """Every standard's value here: the municipality's own where set, else the default."""
    values = {standard.key: standard.value for standard in DEFAULTS}
    for key, value in session.execute(select(StandardOverride.key, StandardOverride.value)):
        if key in values:
            values[key] = Decimal(value)
    return values


def standards_table(session: Session) -> list[StandardOut]:
    overrides = {o.key: o for o in session.execute(select(StandardOverride)).scalars()}
    out = []
    for standard in DEFAULTS:
        override = overrides.get(standard.key)
        out.append(
            StandardOut(
                key=standard.key,
                value=Decimal(override.value) if override else standard.value,
                default=standard.value,
                unit=standard.unit,
                label_ja=standard.label_ja,
                label_en=standard.label_en,
                source=standard.source,
                overridden=override is not None,
                set_by=override.set_by if override else "",
                set_at=override.set_at if override else None,
            )
        )
    return out


def set_standard(session: Session, key: str, value: Decimal, *, actor: str) -> None:
    if key not in BY_KEY:
        raise NotFound(f"基準 {key} はありません / no standard {key}")
    override = session.execute(
        select(StandardOverride).where(StandardOverride.key == key)
    ).scalar_one_or_none()
    at = datetime.now(UTC)
    if override is None:
        session.add(StandardOverride(key=key, value=value, set_by=actor, set_at=at))
    else:
        override.value, override.set_by, override.set_at = value, actor, at
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="supplies.standard_set",
        subject_type="supplies_standard",
        subject_id=key,
        detail={"value": str(value)},
    )


def _stock_by_need(
    session: Session, place_ids: list[str], on: date
) -> dict[str, dict[str, Decimal]]:
    """place → need code → in-date stock there, in the need's unit."""
    rows = session.execute(
        select(
            StockBalance.place_id,
            Item.need_code,
            func.sum(StockBalance.quantity * Item.need_per_unit),
        )
        .join(Item, Item.id == StockBalance.item_id)
        .where(
            StockBalance.place_id.in_(place_ids),
            StockBalance.quantity > 0,
            Item.need_code != "",
            (StockBalance.expires_on.is_(None)) | (StockBalance.expires_on >= on),
        )
        .group_by(StockBalance.place_id, Item.need_code)
    )
    out: defaultdict[str, dict[str, Decimal]] = defaultdict(dict)
    for place_id, need_code, amount in rows:
        out[place_id][need_code] = Decimal(amount)
    return out


@dataclass(frozen=True)
class _Day:
    day: int


def _day_of_stay(shelter: Place, on: date) -> int:
    if shelter.opened_at is None:
        return 0
    return max((on - local_date(shelter.opened_at)).days + 1, 1)


def needs(
    session: Session, shelters: list[Place], *, on: date, days: int, at: datetime | None = None
) -> NeedsOut:
    """The needs of `shelters` for the day `on`, from the people there now or, given `at`,
    from the occupancy as it was then (the stock counted is always today's)."""
    values = standards(session)
    occupancies = evacuees.occupancies(session, shelters, at=at)
    stock = _stock_by_need(session, [shelter.id for shelter in shelters], on)
    depot_ids = list(session.execute(select(Place.id).where(Place.kind.in_(DEPOT_KINDS))).scalars())
    depot_stock: defaultdict[str, Decimal] = defaultdict(Decimal)
    for by_need in _stock_by_need(session, depot_ids, on).values():
        for need_code, amount in by_need.items():
            depot_stock[need_code] += amount
    required_total: defaultdict[str, Decimal] = defaultdict(Decimal)
    shortfall_total: defaultdict[str, Decimal] = defaultdict(Decimal)
    out: list[ShelterNeedsOut] = []
    toilets_short, floor_short = 0, Decimal(0)
    for occupancy in occupancies:
        shelter = occupancy.shelter
        lines = []
        for need in SUPPLY_NEEDS:
            standard = BY_KEY[need.standard]
            category = BASIS_CATEGORY.get(need.basis)
            people = occupancy.people if category is None else occupancy.makeup[category]
            required = values[need.standard] * people * (days if need.per_day else 1)
            available = stock.get(shelter.id, {}).get(need.need_code, Decimal(0))
            shortfall = max(required - available, Decimal(0))
            required_total[need.need_code] += required
            shortfall_total[need.need_code] += shortfall
            lines.append(
                NeedLine(
                    need_code=need.need_code,
                    label_ja=standard.label_ja,
                    label_en=standard.label_en,
                    unit=standard.unit,
                    basis=need.basis,
                    people=people,
                    required=required,
                    available=available,
                    shortfall=shortfall,
                )
            )
        day = _day_of_stay(shelter, on)
        later = day > values["toilet_later_after_days"]
        per_toilet = values["people_per_toilet_later" if later else "people_per_toilet_initial"]
        toilets_needed = math.ceil(Decimal(occupancy.people) / per_toilet)
        toilets_missing = max(toilets_needed - shelter.toilets, 0)
        floor_needed = values["floor_m2_per_person"] * occupancy.people
        floor_missing = max(floor_needed - Decimal(shelter.floor_area_m2), Decimal(0))
        toilets_short += toilets_missing
        floor_short += floor_missing
        out.append(
            ShelterNeedsOut(
                shelter_id=shelter.id,
                shelter_code=shelter.code,
                name=shelter.name,
                people=occupancy.people,
                day=day,
                needs=lines,
                toilets=FacilityLine(
                    required=Decimal(toilets_needed),
                    available=Decimal(shelter.toilets),
                    shortfall=Decimal(toilets_missing),
                    standard=per_toilet,
                ),
                floor_m2=FacilityLine(
                    required=floor_needed,
                    available=Decimal(shelter.floor_area_m2),
                    shortfall=floor_missing,
                    standard=values["floor_m2_per_person"],
                ),
            )
        )
    totals = [
        TotalLine(
            need_code=need.need_code,
            label_ja=BY_KEY[need.standard].label_ja,
            label_en=BY_KEY[need.standard].label_en,
            unit=BY_KEY[need.standard].unit,
            required=required_total[need.need_code],
            shortfall=shortfall_total[need.need_code],
            at_depots=depot_stock[need.need_code],
            uncovered=max(
                shortfall_total[need.need_code] - depot_stock[need.need_code], Decimal(0)
            ),
        )
        for need in SUPPLY_NEEDS
    ]
    return NeedsOut(
        on=on,
        at=at,
        days=days,
        shelters=out,
        totals=totals,
        toilets_shortfall=toilets_short,
        floor_m2_shortfall=floor_short,
    )
