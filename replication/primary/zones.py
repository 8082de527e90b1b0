"""The in-sync set's hazard-zone rule (DESIGN.md, "A write, end to end", step 4).

A write is acknowledged only when copies outside the primary's hazard zones hold it:
the primary and its in-sync set together must survive the loss of any
``min_insync_zones - 1`` hazard zones (the default 2: any one zone). A site carries one
or more zones and fails with any of them. Counting replicas is not enough: with the
primary and one replica in one zone and the other replica far away, the far one is the
natural laggard; dropping it would leave every acknowledged write in one zone.

Pure functions: the zones come in the placement (``TenantPlacement.zones``), filled by
whoever wires replication to the coordination service.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence

__all__ = ["zone_losses", "zone_rule_gaps"]


def zone_losses(zone_sets: Sequence[Collection[str]], min_zones: int) -> list[tuple[str, ...]]:
    """The sets of ``min_zones - 1`` hazard zones whose loss takes every one of the sites
    whose zones are ``zone_sets`` (a site is lost when any of its zones is)."""
    if min_zones <= 1:
        return []
    union = sorted(frozenset[str]().union(*zone_sets))
    lost: list[tuple[str, ...]] = []
    for combo in itertools.combinations(union, min_zones - 1):
        combo_set = frozenset(combo)
        if all(combo_set.intersection(zones) for zones in zone_sets):
            lost.append(combo)
    return lost


def zone_rule_gaps(
    primary: str,
    in_sync: Collection[str],
    zones: Mapping[str, Collection[str]],
    min_insync_zones: int,
) -> list[tuple[str, ...]]:
    """The zone losses that would take the primary and every member of ``in_sync``.

    Empty when the rule holds, or when no zones are known (a lone site, a test without a
    topology: only ``min_insync`` counts then). A copy whose zones are unknown counts as
    lying in every zone: it cannot prove that a write left the primary's zones.
    """
    if not zones or min_insync_zones <= 1:
        return []
    every = frozenset[str]().union(*zones.values())
    zone_sets = [frozenset(zones.get(site, every)) for site in (primary, *in_sync)]
    return zone_losses(zone_sets, min_insync_zones)
