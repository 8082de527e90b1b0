"""One alert in, its evacuation decided and (when it acts) requested: the CLI and the HTTP
endpoint both go through :func:`ingest`, so they can never judge an alert differently."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from failover.alerts.decision import EvacuationDecision, decide
from failover.alerts.settings import EvacuationSettings
from failover.alerts.trigger import EvacuationTrigger, TriggerResult, carry_out
from yui.hazard_alerts import Alert
from yui.topology import SiteSpec

__all__ = ["IngestOutcome", "ingest"]

NOTHING_TO_DO = "実行するものはありません / nothing to carry out"
DRY_RUN = "--dry-run: 実行していません / nothing was done"
NOT_WIRED = (
    "フェイルオーバー制御役が接続されていないため実行していません。上記のサイトが退避対象です / "
    "no failover controller is wired: nothing was done; the sites above WOULD be evacuated"
)
REQUESTED = "退避を依頼しました / evacuation requested"


@dataclass(frozen=True)
class IngestOutcome:
    decision: EvacuationDecision
    #: None when nothing was carried out (no action, a dry run, or no trigger wired)
    executed: list[TriggerResult] | None
    note: str

    @property
    def ok(self) -> bool:
        return self.executed is None or all(result.ok for result in self.executed)

    def to_json(self) -> dict[str, Any]:
        out = self.decision.to_json()
        out["executed"] = self.executed is not None
        out["results"] = [{"site": r.site, "error": r.error} for r in self.executed or []]
        out["note"] = self.note
        return out


async def ingest(
    alert: Alert,
    sites: Iterable[SiteSpec],
    settings: EvacuationSettings,
    *,
    trigger: EvacuationTrigger | None,
    drill: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
) -> IngestOutcome:
    """Decide which sites ``alert`` evacuates and, unless told not to, ask ``trigger`` to
    evacuate each of them (one site's failure does not stop the others)."""
    at = now or datetime.now(UTC)
    if at.utcoffset() is None:
        at = at.replace(tzinfo=UTC)
    decision = decide(alert, sites, settings, drill=drill, now=at)
    if not decision.acts:
        return IngestOutcome(decision, None, NOTHING_TO_DO)
    if dry_run:
        return IngestOutcome(decision, None, DRY_RUN)
    if trigger is None:
        return IngestOutcome(decision, None, NOT_WIRED)
    return IngestOutcome(decision, await carry_out(decision, trigger), REQUESTED)
