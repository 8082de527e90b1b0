"""Every table of relief supplies (the composition root imports this for migrations)."""

from supplies.catalogue.models import Item
from supplies.evacuees.models import Stay
from supplies.exchange.models import ExchangeMessage
from supplies.needs.models import StandardOverride
from supplies.places.models import Place, PlaceAssignment
from supplies.requests.models import Allocation, Kit, KitItem, Request, RequestLine
from supplies.shipments.models import (
    Discrepancy,
    DonationLine,
    DonationOffer,
    Shipment,
    ShipmentLine,
)
from supplies.stock.models import Lot, Movement, MovementLine, StockBalance

__all__ = [
    "Allocation",
    "Discrepancy",
    "DonationLine",
    "DonationOffer",
    "ExchangeMessage",
    "Item",
    "Kit",
    "KitItem",
    "Lot",
    "Movement",
    "MovementLine",
    "Place",
    "PlaceAssignment",
    "Request",
    "RequestLine",
    "Shipment",
    "ShipmentLine",
    "StandardOverride",
    "Stay",
    "StockBalance",
]
