"""What the elected controller does at one tick, decided from a fresh snapshot of what it
sees — Patroni's HA loop: a pure decision over the cluster's state that returns what to
do and why; the thin async shell in failover.controller.loop reads the snapshot, asks,
and carries the answer out through the move engine.

Pure as failover.placement.policy is: no I/O, no clock (the snapshot carries the time),
no randomness; the same snapshot always gives the same decision.

The rules (docs/failover.md, "Detection" and "After an etcd outage"):

- nothing is decided while etcd is unreachable (static stability);
- a site is lost when its probes fail (refused three times, or unanswered eight), or
  when its lease key is missing — unless etcd has just come back from an outage long
  enough to cost live sites their leases (for a grace, only the probes count), or the
  site's probes answer (or this term has not probed it yet) and its key has been gone
  less than that grace;
- only a site seen alive can be lost, until the start-up grace has passed;
- every tenant whose primary is at a lost site, and is not being promoted already, is
  promoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from failover.controller.detection import ControllerTiming
from failover.placement.policy import Placement


@dataclass(frozen=True)
class Snapshot:
    """What the controller sees at one tick (``now`` and the other times: monotonic)."""

    now: float
    #: the view's watch is established (else it answers from memory)
    connected: bool
    #: when the view's current connection began, and how long etcd had been silent then
    connected_since: float | None
    silence_before: float
    #: sites whose lease key exists
    live: frozenset[str]
    placements: Mapping[str, Placement]
    #: sites this node has seen alive (as candidate or controller)
    seen: frozenset[str]
    #: site -> when this node, connected, first missed its key
    absent_since: Mapping[str, float]
    #: sites the probes alone say are lost, and those whose last probe answered
    failing: frozenset[str]
    answered: frozenset[str]
    #: past the start-up grace: a primary's site never seen alive counts as lost too
    settled: bool
    #: tenants whose promotion is under way
    promoting: frozenset[str] = frozenset()
    #: sites this controller's term has not probed yet (it knows where they answer)
    unprobed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    """What to do: the tenants to promote (tenant -> the lost site of its primary), and
    why: each lost site's reason, or why nothing is done."""

    promote: Mapping[str, str]
    lost: Mapping[str, str]
    reason: str = ""


def after_etcd_outage(snapshot: Snapshot, timing: ControllerTiming) -> bool:
    """Whether etcd has just come back from a silence long enough to have cost live
    sites their leases: they are still registering again, one by one."""
    since = snapshot.connected_since
    return (
        since is not None
        and snapshot.silence_before >= timing.outage_silence_seconds
        and snapshot.now - since < timing.outage_grace_seconds
    )


def absence_counts(snapshot: Snapshot, site: str, timing: ControllerTiming) -> bool:
    """Whether a site's missing key makes it lost (its probes can, in any case).

    Not right after an etcd outage; not while its probes answer and its key has been
    missing less than the grace (a live site registering again), nor before this term's
    first probe of it has told whether it answers (a controller elected just as the
    sites' leases lapsed together judged them all lost at once). Otherwise the key is
    etcd's word: a site that cannot renew it while etcd serves fences itself.
    """
    if after_etcd_outage(snapshot, timing):
        return False
    missing = snapshot.now - snapshot.absent_since.get(site, snapshot.now)
    if missing >= timing.outage_grace_seconds:
        return True
    return site not in snapshot.answered and site not in snapshot.unprobed


def lost_sites(snapshot: Snapshot, timing: ControllerTiming) -> dict[str, str]:
    """Sites that hold a primary but are gone, each with why."""
    primaries = {p.primary for p in snapshot.placements.values()}
    # Only a site seen alive can be lost (sites still starting are not failures),
    # unless it stays away longer than a start-up grace.
    suspects = sorted(s for s in primaries if s in snapshot.seen or snapshot.settled)
    lost: dict[str, str] = {}
    for site in suspects:
        if site in snapshot.failing:
            lost[site] = "プローブが失敗 / its probes fail"
        elif site not in snapshot.live and absence_counts(snapshot, site, timing):
            lost[site] = "リースキーがありません / its lease key is gone"
    return lost


def decide(snapshot: Snapshot, timing: ControllerTiming) -> Decision:
    """The tenants to promote now, and why."""
    if not snapshot.connected:
        return Decision(
            {}, {}, "etcd に接続できません: 何もしません / etcd unreachable: no failover"
        )
    lost = lost_sites(snapshot, timing)
    promote = {
        tenant: placement.primary
        for tenant, placement in sorted(snapshot.placements.items())
        if placement.primary in lost and tenant not in snapshot.promoting
    }
    return Decision(promote, lost)
