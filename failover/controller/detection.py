"""What the controller knows of the sites' health: its timing, and its direct probes.

The loop (failover.controller.loop) and the repair step (failover.controller.repair)
both read them; neither owns the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from failover.coordination.timing import SANDBOX, CoordinationTiming

#: what one probe of a site's /healthz saw
Outcome = Literal["ok", "refused", "timeout"]


@dataclass
class ControllerTiming:
    tick_seconds: float = 0.2
    probe_interval_seconds: float = 0.25
    probe_timeout_seconds: float = 0.4
    #: consecutive refused probes (nothing listens: the process is gone) that make a site
    #: lost without waiting for its lease
    probe_failures: int = 3
    #: the wait before probing again a site that has just refused, until its refusals are
    #: enough (or it answers): a refusal is confirmed at once, not a whole interval later.
    #: 3 refusals took 0.5-0.75 s at the probe interval; now 0-0.25 s plus 0.1 s
    confirm_interval_seconds: float = 0.05
    #: consecutive unanswered probes that do the same. A site that is only slow (a busy
    #: event loop) still renews its lease: unanswered probes alone would fail it over
    #: needlessly, so this is longer than the lease (a frozen or cut-off site loses its
    #: lease first; see docs/failover.md, "Detection")
    probe_timeouts: int = 8
    #: after this long, a primary's site that never registered counts as lost
    startup_grace_seconds: float = 10.0
    #: a member's site gone this long no longer counts as a copy: a replica is added elsewhere
    restore_grace_seconds: float = 30.0
    #: how often the controller looks for seals an unfinished promotion left behind; one
    #: seen by two scans in a row is lifted (a move in flight writes its placement sooner)
    seal_scan_seconds: float = 15.0
    #: an etcd silence at least this long may have cost live sites their leases (the
    #: coordination timing's lapse_silence_seconds)
    outage_silence_seconds: float = SANDBOX.lapse_silence_seconds
    #: after such an outage, a missing lease key alone does not make a site lost for this
    #: long (reregistration_seconds: a TTL plus the sites' registration retry interval);
    #: nor, at any time, while the site's probes answer and its key has been gone less
    #: than this
    outage_grace_seconds: float = SANDBOX.reregistration_seconds

    @classmethod
    def for_coordination(cls, timing: CoordinationTiming, **overrides: Any) -> ControllerTiming:
        """The timing of a controller whose sites hold leases of ``timing``."""
        derived: dict[str, Any] = {
            "outage_silence_seconds": timing.lapse_silence_seconds,
            "outage_grace_seconds": timing.reregistration_seconds,
        }
        return cls(**(derived | overrides))


@dataclass
class Probes:
    #: consecutive probes refused, per site
    failures: dict[str, int] = field(default_factory=dict)
    #: consecutive probes unanswered in time, per site
    timeouts: dict[str, int] = field(default_factory=dict)
    #: sites whose last probe answered
    answered: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def confirming(self, timing: ControllerTiming) -> bool:
        """Whether some site has refused, but not yet often enough to be lost."""
        return any(0 < n < timing.probe_failures for n in self.failures.values())

    def next_probe_in(self, timing: ControllerTiming) -> float:
        """The wait before the next round of probes."""
        if self.confirming(timing):
            return timing.confirm_interval_seconds
        return timing.probe_interval_seconds

    def failing(self, timing: ControllerTiming) -> set[str]:
        """Sites the probes alone say are lost."""
        refused = {s for s, n in self.failures.items() if n >= timing.probe_failures}
        return refused | {s for s, n in self.timeouts.items() if n >= timing.probe_timeouts}

    def clear(self) -> None:
        self.failures.clear()
        self.timeouts.clear()
        self.answered.clear()

    def record(self, site: str, outcome: Outcome) -> None:
        self.failures[site] = self.failures.get(site, 0) + 1 if outcome == "refused" else 0
        self.timeouts[site] = self.timeouts.get(site, 0) + 1 if outcome == "timeout" else 0
        if outcome == "ok":
            self.answered.add(site)
        else:
            self.answered.discard(site)


async def probe(client: httpx.AsyncClient, url: str) -> Outcome:
    """ "ok"; "refused" when nothing answers at all (connection refused or reset: the
    process is gone); "timeout" when it does not answer in time, or answers ill."""
    try:
        response = await client.get(f"{url}/healthz")
    except httpx.TimeoutException:
        return "timeout"
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
        return "refused"
    except httpx.HTTPError:
        return "timeout"
    return "ok" if response.status_code == 200 else "timeout"
