"""The controller's decision (failover/controller/decision.py) over snapshots: pure, so
every rule of docs/failover.md ("Detection", "After an etcd outage") is one assertion."""

from __future__ import annotations

from dataclasses import replace

from failover.controller.decision import Snapshot, decide
from failover.controller.detection import ControllerTiming
from failover.coordination import SANDBOX
from failover.placement.policy import Placement

TIMING = ControllerTiming.for_coordination(SANDBOX)
REPLICAS = ("gcp-osaka", "sakura-ishikari")
SITES = frozenset({"aws-tokyo", *REPLICAS})
PLACEMENTS = {
    "041009": Placement("041009", "aws-tokyo", REPLICAS, REPLICAS),
    "011002": Placement("011002", "aws-tokyo", REPLICAS, REPLICAS),
    "472018": Placement("472018", "gcp-osaka", ("aws-tokyo", "sakura-ishikari"), ()),
}
NOW = 1000.0
#: steady state: connected for long, every site seen alive and registered
STEADY = Snapshot(
    now=NOW,
    connected=True,
    connected_since=NOW - 600,
    silence_before=0.5,
    live=SITES,
    placements=PLACEMENTS,
    seen=SITES,
    absent_since={},
    failing=frozenset(),
    answered=SITES,
    settled=True,
)


def test_nothing_is_done_while_every_site_is_alive() -> None:
    decision = decide(STEADY, TIMING)
    assert decision.promote == {} and decision.lost == {}


def test_a_site_whose_probes_fail_is_lost_and_its_primaries_are_promoted() -> None:
    decision = decide(replace(STEADY, failing=frozenset({"aws-tokyo"})), TIMING)
    assert decision.promote == {"011002": "aws-tokyo", "041009": "aws-tokyo"}
    assert "probes" in decision.lost["aws-tokyo"]


def test_a_tenant_already_being_promoted_is_not_promoted_twice() -> None:
    snapshot = replace(STEADY, failing=frozenset({"aws-tokyo"}), promoting=frozenset({"041009"}))
    assert decide(snapshot, TIMING).promote == {"011002": "aws-tokyo"}


def test_nothing_is_decided_without_etcd() -> None:
    """Static stability: a stale view's missing keys and failing probes move nothing."""
    snapshot = replace(
        STEADY, connected=False, live=frozenset(REPLICAS), failing=frozenset({"aws-tokyo"})
    )
    decision = decide(snapshot, TIMING)
    assert decision.promote == {} and "etcd" in decision.reason


def test_in_steady_state_a_missing_key_is_etcds_word_unless_the_site_answers() -> None:
    gone = replace(STEADY, live=frozenset(REPLICAS), absent_since={"aws-tokyo": NOW})
    gone = replace(gone, answered=frozenset(REPLICAS))
    assert "lease key" in decide(gone, TIMING).lost["aws-tokyo"]
    # a site whose probes answer gets the grace from the moment its key went missing
    answering = replace(gone, answered=SITES)
    assert decide(answering, TIMING).promote == {}
    later = replace(answering, now=NOW + TIMING.outage_grace_seconds)
    assert set(decide(later, TIMING).promote) == {"011002", "041009"}


def test_right_after_an_etcd_outage_only_the_probes_can_lose_a_site() -> None:
    back = replace(
        STEADY,
        connected_since=NOW - 1.0,
        silence_before=TIMING.outage_silence_seconds,
        live=frozenset(REPLICAS),
        absent_since={"aws-tokyo": NOW - 1.0},
        answered=frozenset(REPLICAS),
    )
    assert decide(back, TIMING).promote == {}  # its key may just not be back yet
    refused = replace(back, failing=frozenset({"aws-tokyo"}))
    assert set(decide(refused, TIMING).promote) == {"011002", "041009"}
    # once the grace has passed, the missing key is etcd's word again
    after = replace(back, now=back.connected_since + TIMING.outage_grace_seconds)  # type: ignore[operator]
    assert set(decide(after, TIMING).promote) == {"011002", "041009"}


def test_a_site_never_seen_alive_is_lost_only_after_the_start_up_grace() -> None:
    starting = replace(
        STEADY,
        live=frozenset(REPLICAS),
        seen=frozenset(REPLICAS),
        answered=frozenset(REPLICAS),
        settled=False,
    )
    assert decide(starting, TIMING).promote == {}
    assert set(decide(replace(starting, settled=True), TIMING).promote) == {"011002", "041009"}


def test_a_new_term_judges_a_missing_key_only_after_its_first_probe_of_the_site() -> None:
    """The soak's liveness failure (docs/drills.md, "100 回の soak"): after an etcd stall
    every site's lease lapsed at once; a controller elected at that moment has no probe
    answers yet, judged the re-registering sites lost by their missing keys, sealed their
    replicas and left both tenants fenced. A missing key waits for the term's first probe
    of that site: an answer gives the site the grace, silence makes it lost."""
    elected = replace(
        STEADY,
        live=frozenset(REPLICAS),
        absent_since={"aws-tokyo": NOW - 0.5},
        answered=frozenset(),
        unprobed=SITES,
    )
    assert decide(elected, TIMING).lost == {}
    answered = replace(elected, answered=SITES, unprobed=frozenset())
    assert decide(answered, TIMING).promote == {}
    unanswered = replace(elected, answered=frozenset(REPLICAS), unprobed=frozenset())
    assert set(decide(unanswered, TIMING).promote) == {"011002", "041009"}
    # probes that fail need no key at all; a key missing past the grace needs no probe
    assert (
        "probes"
        in decide(replace(elected, failing=frozenset({"aws-tokyo"})), TIMING).lost["aws-tokyo"]
    )
    late = replace(elected, absent_since={"aws-tokyo": NOW - TIMING.outage_grace_seconds})
    assert set(decide(late, TIMING).promote) == {"011002", "041009"}
