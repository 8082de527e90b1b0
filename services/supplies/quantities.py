"""Quantities of relief items: decimal, positive, whole where the item's unit says so."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

from yui.errors import InvalidInput

#: the largest quantity one line may carry (the columns hold 999,999,999.999)
MAX_QUANTITY = Decimal("100000000")


def _as_number(value: Decimal) -> int | float:
    """JSON numbers out: a whole quantity as an integer, a fraction as a float."""
    return int(value) if value == value.to_integral_value() else float(value)


#: a quantity a client sends: more than zero, at most three decimals
PositiveQuantity = Annotated[
    Decimal,
    Field(gt=0, le=MAX_QUANTITY, max_digits=12, decimal_places=3, allow_inf_nan=False),
]
#: a stock count may find nothing
CountedQuantity = Annotated[
    Decimal,
    Field(ge=0, le=MAX_QUANTITY, max_digits=12, decimal_places=3, allow_inf_nan=False),
]
#: a quantity in a response
QuantityOut = Annotated[Decimal, PlainSerializer(_as_number, return_type=float)]


def check_whole(quantity: Decimal, *, whole_units: bool, item_code: str, unit: str) -> None:
    """Refuse a fraction of an item counted in whole units (2.5 blankets)."""
    if whole_units and quantity != quantity.to_integral_value():
        raise InvalidInput(
            f"{item_code} は{unit}単位の整数で数えます（{quantity} は不可） / {item_code} is "
            f"counted in whole units ({unit}): {quantity} is not allowed"
        )
