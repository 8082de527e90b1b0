"""Every table of the resident registry (the composition root imports this for migrations)."""

from residents.assistance.models import AssistanceEntry, Supporter
from residents.registry.models import Household, Move, Period, Resident

__all__ = ["AssistanceEntry", "Household", "Move", "Period", "Resident", "Supporter"]
