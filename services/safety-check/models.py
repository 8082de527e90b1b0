"""Every table of safety confirmation (the composition root imports this for migrations)."""

from safety_check.campaigns.models import Campaign
from safety_check.reports.models import Report

__all__ = ["Campaign", "Report"]
