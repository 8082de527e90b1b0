"""What carries an evacuation decision out: the trigger the failover controller implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from failover.alerts.decision import EvacuationDecision

__all__ = ["EvacuationRequest", "EvacuationTrigger", "TriggerResult", "carry_out", "requests_for"]


@dataclass(frozen=True)
class EvacuationRequest:
    """Why a site is to be evacuated: enough for the controller's log and the audit trail."""

    site: str
    alert_identifier: str
    kind: str
    #: True for an exercise acted on in drill mode: the controller may label or scope it
    drill: bool
    reason_ja: str
    reason_en: str

    def text(self) -> str:
        return f"{self.reason_ja} / {self.reason_en}"


@runtime_checkable
class EvacuationTrigger(Protocol):
    """Evacuate ``site``: switch every primary off it (zero loss). Must be idempotent —
    the same warning arrives as an Alert and then as Updates."""

    async def evacuate(self, site: str, reason: EvacuationRequest) -> None: ...


@dataclass(frozen=True)
class TriggerResult:
    site: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def requests_for(decision: EvacuationDecision) -> list[EvacuationRequest]:
    """The requests a decision makes (none unless it acts)."""
    if not decision.acts:
        return []
    requests = []
    for site in decision.per_site:
        if site.site not in decision.sites:
            continue
        why = next((r for r in site.reasons if r.code.startswith("qualifies")), None)
        requests.append(
            EvacuationRequest(
                site=site.site,
                alert_identifier=decision.alert_identifier,
                kind=decision.kind.value,
                drill=decision.action == "drill",
                reason_ja=why.ja if why else decision.summary(),
                reason_en=why.en if why else decision.summary(),
            )
        )
    return requests


async def carry_out(
    decision: EvacuationDecision, trigger: EvacuationTrigger
) -> list[TriggerResult]:
    """Call the trigger for each selected site; one site's failure does not stop the others."""
    results = []
    for request in requests_for(decision):
        try:
            await trigger.evacuate(request.site, request)
        except Exception as error:  # each site is independent; report, go on
            results.append(TriggerResult(request.site, f"{type(error).__name__}: {error}"))
        else:
            results.append(TriggerResult(request.site))
    return results
