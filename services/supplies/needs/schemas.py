"""Needs, shortfalls and the standards table out; a standard's new value in."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from supplies.needs.standards import Basis
from supplies.quantities import QuantityOut
from yui.db.types import UtcDateTime
from yui.text import InputModel


class StandardOut(BaseModel):
    key: str
    value: QuantityOut
    default: QuantityOut
    unit: str
    label_ja: str
    label_en: str
    source: str
    overridden: bool
    set_by: str
    set_at: UtcDateTime | None


class StandardIn(InputModel):
    value: Decimal = Field(gt=0, le=Decimal(1_000_000), max_digits=12, decimal_places=3)


class NeedLine(BaseModel):
    need_code: str
    label_ja: str
    label_en: str
    unit: str
    basis: Basis
    #: people the need counts (everyone, or the make-up category)
    people: int
    required: QuantityOut
    #: in date stock at the place, in the need's unit (items' need_per_unit)
    available: QuantityOut
    shortfall: QuantityOut


class FacilityLine(BaseModel):
    """Toilets and floor space: what the building has, not stock."""

    required: QuantityOut
    available: QuantityOut
    shortfall: QuantityOut
    #: the standard used (people per toilet, m² per person)
    standard: QuantityOut


class ShelterNeedsOut(BaseModel):
    shelter_id: str
    shelter_code: str
    name: str
    people: int
    #: the day of the stay since the shelter opened (1 = the day it opened)
    day: int
    needs: list[NeedLine]
    toilets: FacilityLine
    floor_m2: FacilityLine


class TotalLine(BaseModel):
    need_code: str
    label_ja: str
    label_en: str
    unit: str
    required: QuantityOut
    #: the sum of the shelters' shortfalls (one shelter's surplus does not feed another)
    shortfall: QuantityOut
    #: in date stock at the depots, in the need's unit
    at_depots: QuantityOut
    #: what the depots cannot cover: to request from the prefecture or the state
    uncovered: QuantityOut


class NeedsOut(BaseModel):
    on: date
    #: the moment whose occupancy was used (null: now)
    at: UtcDateTime | None = None
    days: int
    shelters: list[ShelterNeedsOut]
    totals: list[TotalLine]
    toilets_shortfall: int
    floor_m2_shortfall: QuantityOut
