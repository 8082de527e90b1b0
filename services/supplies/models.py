"""Every table of relief supplies (the composition root imports this for migrations)."""

from supplies.catalogue.models import Item
from supplies.evacuees.models import Stay
from supplies.needs.models import StandardOverride
from supplies.places.models import Place, PlaceAssignment
from supplies.stock.models import Lot, Movement, MovementLine, StockBalance

__all__ = [
    "Item",
    "Lot",
    "Movement",
    "MovementLine",
    "Place",
    "PlaceAssignment",
    "StandardOverride",
    "Stay",
    "StockBalance",
]
