"""Placement policy: where each tenant's primary and replicas live (docs/placement.md).

Pure functions over plain data; no I/O and no framework.
"""

from failover.placement.policy import (
    DEFAULT_POLICY,
    Mode,
    Move,
    MoveKind,
    MoveReason,
    Placement,
    PlacementError,
    PlacementPolicy,
    SiteInfo,
    apply_move,
    check_placement,
    choose_promotion,
    place_all,
    place_new_tenant,
    rebalance,
)

__all__ = [
    "DEFAULT_POLICY",
    "Mode",
    "Move",
    "MoveKind",
    "MoveReason",
    "Placement",
    "PlacementError",
    "PlacementPolicy",
    "SiteInfo",
    "apply_move",
    "check_placement",
    "choose_promotion",
    "place_all",
    "place_new_tenant",
    "rebalance",
]
