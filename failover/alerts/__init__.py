"""Alert-driven evacuation: which sites an alert says must hand their primaries away.

Pure decision code (no I/O, no clock of its own): :func:`decide` takes an
:class:`yui.hazard_alerts.Alert`, the sites of the topology and the settings, and returns an
:class:`EvacuationDecision` with its reasons in Japanese and English. The failover
controller implements :class:`EvacuationTrigger`; :func:`carry_out` calls it for each
selected site. See docs/runbook.md ("警報による退避 / Alert-driven evacuation").
"""

from failover.alerts.decision import (
    Action,
    EvacuationDecision,
    Reason,
    SiteDecision,
    decide,
)
from failover.alerts.settings import EvacuationSettings
from failover.alerts.trigger import (
    EvacuationRequest,
    EvacuationTrigger,
    TriggerResult,
    carry_out,
    requests_for,
)

__all__ = [
    "Action",
    "EvacuationDecision",
    "EvacuationRequest",
    "EvacuationSettings",
    "EvacuationTrigger",
    "Reason",
    "SiteDecision",
    "TriggerResult",
    "carry_out",
    "decide",
    "requests_for",
]
