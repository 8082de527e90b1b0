"""Places in and out."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from supplies.places.models import Place, PlaceKind
from supplies.quantities import QuantityOut
from yui.db.types import UtcDateTime
from yui.text import InputModel, MultiLine

PLACE_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,19}$"


class PlaceFields(InputModel):
    """What may be given or changed of a place (every field optional when changing)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    address: str | None = Field(default=None, max_length=200)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=30, pattern=r"^[0-9+() -]*$")
    operator: str | None = Field(default=None, max_length=100, description="運営主体 / who runs it")
    capacity_day: int | None = Field(default=None, ge=0, le=100_000)
    capacity_night: int | None = Field(default=None, ge=0, le=100_000)
    floor_area_m2: Decimal | None = Field(
        default=None, ge=0, le=Decimal(1_000_000), max_digits=8, decimal_places=1
    )
    toilets: int | None = Field(default=None, ge=0, le=10_000)
    step_free: bool | None = None
    accessible_toilet: bool | None = None
    accessibility_note: Annotated[str | None, MultiLine()] = Field(default=None, max_length=1000)
    active: bool | None = None


class PlaceIn(PlaceFields):
    code: str = Field(pattern=PLACE_CODE_PATTERN, description="自治体の場所コード, e.g. S-012")
    kind: PlaceKind
    name: str = Field(min_length=1, max_length=100)


class PlaceOut(BaseModel):
    id: str
    code: str
    kind: PlaceKind
    depot: bool
    name: str
    address: str
    latitude: float | None
    longitude: float | None
    contact_name: str
    contact_phone: str
    operator: str
    active: bool
    capacity_day: int
    capacity_night: int
    floor_area_m2: QuantityOut
    toilets: int
    step_free: bool
    accessible_toilet: bool
    accessibility_note: str
    is_open: bool
    opened_at: UtcDateTime | None
    closed_at: UtcDateTime | None


class AssignmentIn(InputModel):
    username: str = Field(min_length=1, max_length=64)


class AssignmentOut(BaseModel):
    username: str
    place_id: str
    assigned_by: str
    assigned_at: UtcDateTime


def place_out(place: Place) -> PlaceOut:
    kind = PlaceKind(place.kind)
    return PlaceOut(
        id=place.id,
        code=place.code,
        kind=kind,
        depot=kind.is_depot,
        name=place.name,
        address=place.address,
        latitude=place.latitude,
        longitude=place.longitude,
        contact_name=place.contact_name,
        contact_phone=place.contact_phone,
        operator=place.operator,
        active=place.active,
        capacity_day=place.capacity_day,
        capacity_night=place.capacity_night,
        floor_area_m2=place.floor_area_m2,
        toilets=place.toilets,
        step_free=place.step_free,
        accessible_toilet=place.accessible_toilet,
        accessibility_note=place.accessibility_note,
        is_open=place.is_open,
        opened_at=place.opened_at,
        closed_at=place.closed_at,
    )
