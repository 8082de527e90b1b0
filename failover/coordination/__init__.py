"""Coordination through etcd: site liveness, placements, the controller election.

Other code depends on the interface only (``Coordination``, ``ClusterView``,
``SiteRegistration``, ``Leadership``); the composition root builds the etcd
implementation with :func:`connect_etcd`. See docs/coordination.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from failover.coordination.interface import (
    ClusterEvent,
    ClusterListener,
    ClusterView,
    Coordination,
    CoordinationUnavailable,
    Leadership,
    LeadershipLost,
    PlacementConflict,
    SiteRecord,
    SiteRegistration,
)
from failover.coordination.timing import REAL_CLOUD, SANDBOX, CoordinationTiming
from yui.tls import TlsFiles

__all__ = [
    "REAL_CLOUD",
    "SANDBOX",
    "ClusterEvent",
    "ClusterListener",
    "ClusterView",
    "Coordination",
    "CoordinationTiming",
    "CoordinationUnavailable",
    "Leadership",
    "LeadershipLost",
    "PlacementConflict",
    "SiteRecord",
    "SiteRegistration",
    "connect_etcd",
]


def connect_etcd(
    endpoints: Sequence[str],
    *,
    timing: CoordinationTiming = SANDBOX,
    prefix: str = "/yui",
    tls: TlsFiles | None = None,
) -> Coordination:
    """The etcd implementation (imported here so that only it loads aetcd); ``tls``: over
    TLS with a client certificate."""
    from failover.coordination.etcd import EtcdCoordination

    return EtcdCoordination(endpoints, timing=timing, prefix=prefix, tls=tls)
