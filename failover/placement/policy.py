"""The placement policy: which sites hold each tenant's copies (DESIGN.md, "Placement policy").

A tenant (one municipality) has one primary and some replicas. Its copies must
survive the loss of any one hazard zone and of any one cloud provider, never
sit twice at one site, and the load must be spread over the sites.

This module is pure: no I/O, no clock, no randomness, no framework. The same
inputs always give the same output (every tie is broken by site name, then
tenant code). The failover controller reads the placements from etcd, calls
these functions, and carries out what they return. docs/placement.md states
the rules in prose.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from replication.primary.zones import zone_losses
from yui.tenancy.codes import is_valid_code

__all__ = [
    "DEFAULT_POLICY",
    "Mode",
    "Move",
    "MoveKind",
    "MoveReason",
    "Placement",
    "PlacementError",
    "PlacementPolicy",
    "Restoration",
    "SiteInfo",
    "apply_move",
    "check_placement",
    "choose_promotion",
    "place_all",
    "place_new_tenant",
    "plan_restoration",
    "rebalance",
]

Mode = Literal["sync", "async"]
MoveKind = Literal["switchover", "replace_replica", "add_replica"]
MoveReason = Literal["drain", "repair", "balance-primaries", "balance-copies"]


# A balancing step: given the (from, to) site pairs worth a move, make one move;
# False when no move keeps the constraints.
_Step = Callable[[list[tuple[str, str]], list[tuple[str, str]]], bool]


class PlacementError(ValueError):
    """The constraints cannot be met. The message is Japanese first, then English."""


def _cannot(ja: str, en: str) -> PlacementError:
    return PlacementError(f"配置できません: {ja} / cannot place: {en}")


# --------------------------------------------------------------------------- tenant codes


# --------------------------------------------------------------------------- the inputs


@dataclass(frozen=True)
class SiteInfo:
    """One site: a deployment of Yui in one provider's region.

    ``capacity`` is a relative weight (a site of capacity 2 takes twice the
    share of a site of capacity 1). ``available=False`` means "place nothing
    here and drain what is here" (lost, or under a warning for its area).
    """

    name: str
    provider: str
    region: str
    hazard_zones: frozenset[str]
    capacity: int = 1
    available: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("サイト名が空です / a site needs a name")
        if not self.hazard_zones:
            raise ValueError(
                f"サイト {self.name} にハザードゾーンがありません"
                f" / site {self.name} carries no hazard zone"
            )
        if self.capacity < 1:
            raise ValueError(
                f"サイト {self.name} の capacity は1以上です"
                f" / site {self.name}: capacity must be at least 1"
            )


@dataclass(frozen=True)
class Placement:
    """Where one tenant lives: its primary, replicas, in-sync set (ISR), mode and epoch.

    ``min_insync_zones``: the primary and its in-sync set must survive the loss of any
    ``min_insync_zones - 1`` hazard zones, or writes are refused (replication/primary/zones.py);
    2, the default, means a copy outside each of the primary's zones; 1 counts only.
    """

    tenant: str
    primary: str
    replicas: tuple[str, ...]
    in_sync: tuple[str, ...]
    mode: Mode = "sync"
    min_insync: int = 1
    epoch: int = 0
    min_insync_zones: int = 2

    @property
    def copies(self) -> tuple[str, ...]:
        """The primary first, then the replicas."""
        return (self.primary, *self.replicas)


@dataclass(frozen=True)
class PlacementPolicy:
    """``replication_factor`` counts every copy, the primary included."""

    replication_factor: int = 3
    min_zones: int = 2
    min_providers: int = 2

    def __post_init__(self) -> None:
        for field_name in ("replication_factor", "min_zones", "min_providers"):
            if getattr(self, field_name) < 1:
                raise ValueError(f"{field_name} は1以上です / {field_name} must be at least 1")
        if self.min_zones < 2:
            # DESIGN.md: a tenant's copies span at least two hazard zones; a policy that
            # allowed one could place every copy where one event takes them all.
            raise ValueError(
                "min_zones は2以上です（すべてのコピーを1つのハザードゾーンに置かないため）"
                " / min_zones must be at least 2 (never every copy in one hazard zone)"
            )


DEFAULT_POLICY: Final = PlacementPolicy()


@dataclass(frozen=True)
class Move:
    """One planned step. The controller carries moves out in order.

    - ``switchover``: the primary moves from ``source`` to ``target``, one of
      the tenant's replicas; the old primary stays as a replica. Planned: stop
      writes, let the target catch up, seal, compare-and-swap. Balancing only
      targets in-sync replicas; a drain may target a lagging one (it catches
      up once writes stop).
    - ``replace_replica``: a new replica at ``target`` is built (snapshot + log
      tail) and, once it is in sync, the replica at ``source`` is dropped
      (make before break).
    - ``add_replica``: a new replica at ``target`` (``source`` is None), to
      restore the replication factor.
    """

    kind: MoveKind
    tenant: str
    source: str | None
    target: str
    reason: MoveReason


# --------------------------------------------------------------------------- internals


class _Topology:
    """The sites by name; the available ones sorted by name."""

    __slots__ = ("available", "by_name", "capacity_total")

    def __init__(self, sites: Iterable[SiteInfo]) -> None:
        by_name: dict[str, SiteInfo] = {}
        for site in sites:
            if site.name in by_name:
                raise _cannot(
                    f"サイト名 {site.name} が重複しています", f"site name {site.name} appears twice"
                )
            by_name[site.name] = site
        self.by_name = by_name
        self.available = tuple(sorted((s for s in by_name.values() if s.available), key=_name))
        self.capacity_total = sum(s.capacity for s in self.available)

    def usable(self, name: str) -> bool:
        site = self.by_name.get(name)
        return site is not None and site.available

    def known(self, names: Iterable[str]) -> list[SiteInfo]:
        return [self.by_name[n] for n in names if n in self.by_name]


def _name(site: SiteInfo) -> str:
    return site.name


class _Loads:
    """Primaries and copies per site."""

    __slots__ = ("copies", "pairs", "primaries")

    def __init__(self, placements: Iterable[Placement] = ()) -> None:
        self.primaries: Counter[str] = Counter()
        self.copies: Counter[str] = Counter()
        # (primary site, replica site) -> how many tenants: where a site's primaries fail over to.
        self.pairs: Counter[tuple[str, str]] = Counter()
        for p in placements:
            self.add(p)

    def add(self, p: Placement, sign: int = 1) -> None:
        self.primaries[p.primary] += sign
        for name in p.copies:
            self.copies[name] += sign
        for name in p.replicas:
            self.pairs[(p.primary, name)] += sign

    def primary_key(self, site: SiteInfo) -> tuple[float, float, str]:
        """Order of preference for a new primary: fewest primaries per capacity, then copies."""
        return (
            (self.primaries[site.name] + 1) / site.capacity,
            (self.copies[site.name] + 1) / site.capacity,
            site.name,
        )


def _union(zone_sets: Iterable[frozenset[str]]) -> frozenset[str]:
    return frozenset[str]().union(*zone_sets)


def _zone_losses(zone_sets: Sequence[frozenset[str]], min_zones: int) -> list[tuple[str, ...]]:
    """The sets of ``min_zones - 1`` hazard zones whose loss takes every copy.

    A site carries one or more zones and fails with any of them, so "the copies
    span two zones" means: for every zone, some copy sits at a site outside it.
    The same rule replication applies to the in-sync set, so it is one function.
    """
    return zone_losses(zone_sets, min_zones)


def _zones_ok(zone_sets: Sequence[frozenset[str]], min_zones: int) -> bool:
    if len(_union(zone_sets)) < min_zones:
        return False
    return not _zone_losses(zone_sets, min_zones)


def _diverse(sites: Sequence[SiteInfo], policy: PlacementPolicy) -> bool:
    """Copies at these sites span enough providers and survive the loss of zones."""
    if len({s.provider for s in sites}) < policy.min_providers:
        return False
    return _zones_ok([s.hazard_zones for s in sites], policy.min_zones)


def _fill(
    chosen: list[SiteInfo],
    k: int,
    pool: Sequence[SiteInfo],
    loads: _Loads,
    policy: PlacementPolicy,
    primary: str | None = None,
) -> list[SiteInfo] | None:
    """Add ``k`` sites from ``pool`` to ``chosen`` so the whole set is diverse.

    Tries first the site holding the fewest replicas of ``primary``'s tenants
    (per capacity: so that when a site fails, its primaries fan out over all
    the others instead of landing on one or two), then the fewest copies per
    capacity, then the site that adds a provider or zone the set lacks, then
    the name. The first set found is the best in that order. A site that
    fails at one slot is not tried again at a later one (sets, not sequences).
    """
    if k == 0:
        return chosen if _diverse(chosen, policy) else None
    if len(pool) < k:
        return None
    providers = {s.provider for s in chosen}
    zones = _union(s.hazard_zones for s in chosen)
    if len(providers) + min(k, len({s.provider for s in pool} - providers)) < policy.min_providers:
        return None
    if len(zones | _union(s.hazard_zones for s in pool)) < policy.min_zones:
        return None

    def key(site: SiteInfo) -> tuple[float, float, int, str]:
        gain = (site.provider not in providers) + len(site.hazard_zones - zones)
        spread = loads.pairs[(primary, site.name)] if primary is not None else 0
        return (
            (spread + 1) / site.capacity,
            (loads.copies[site.name] + 1) / site.capacity,
            -gain,
            site.name,
        )

    ordered = sorted(pool, key=key)
    for i, site in enumerate(ordered):
        found = _fill([*chosen, site], k - 1, ordered[i + 1 :], loads, policy, primary)
        if found is not None:
            return found
    return None


def _diagnose(tenant: str, topo: _Topology, policy: PlacementPolicy) -> PlacementError:
    """Why no set of sites works, every reason that applies, in words an operator can act on."""
    avail = topo.available
    rf = policy.replication_factor
    names = ", ".join(s.name for s in avail) or "-"
    ja: list[str] = []
    en: list[str] = []
    if len(avail) < rf:
        ja.append(
            f"利用できるサイトが{len(avail)}か所（{names}）しかなく、{rf}個のコピーを別々のサイトに置けません"
        )
        en.append(
            f"only {len(avail)} available site(s) ({names}) for {rf} copies at distinct sites"
        )
    providers = sorted({s.provider for s in avail})
    if len(providers) < policy.min_providers:
        ja.append(
            f"利用できるクラウド事業者が{len(providers)}社（{', '.join(providers) or '-'}）だけで、"
            f"{policy.min_providers}社以上にまたがれません"
        )
        en.append(
            f"the available sites belong to {len(providers)} provider(s)"
            f" ({', '.join(providers) or '-'}); copies must span at least {policy.min_providers}"
        )
    zones = sorted(_union(s.hazard_zones for s in avail))
    if len(zones) < policy.min_zones:
        ja.append(
            f"利用できるハザードゾーンが{len(zones)}つ（{', '.join(zones) or '-'}）だけで、"
            f"{policy.min_zones}つ以上にまたがれません"
        )
        en.append(
            f"the available sites lie in {len(zones)} hazard zone(s) ({', '.join(zones) or '-'});"
            f" copies must span at least {policy.min_zones}"
        )
    if not ja:
        ja.append(
            f"{rf}個のコピーが{policy.min_zones}つ以上のハザードゾーン（どのゾーンを失ってもコピーが残る）と"
            f"{policy.min_providers}社以上の事業者にまたがるサイトの組み合わせがありません（{names}）"
        )
        en.append(
            f"no {rf} available sites ({names}) span {policy.min_zones} hazard zones"
            f" (a copy outside any zone lost) and {policy.min_providers} providers together"
        )
    return _cannot(f"テナント {tenant}: " + "。".join(ja), f"tenant {tenant}: " + "; ".join(en))


def _place_one(tenant: str, topo: _Topology, loads: _Loads, policy: PlacementPolicy) -> Placement:
    if not is_valid_code(tenant):
        raise _cannot(
            f"テナントコード {tenant!r} は正しい地方公共団体コード（6桁、検査数字付き）ではありません",
            f"tenant code {tenant!r} is not a valid 6-digit local-government code",
        )
    for primary in sorted(topo.available, key=loads.primary_key):
        pool = [s for s in topo.available if s is not primary]
        found = _fill([primary], policy.replication_factor - 1, pool, loads, policy, primary.name)
        if found is not None:
            replicas = tuple(s.name for s in found[1:])
            placement = Placement(
                tenant=tenant, primary=primary.name, replicas=replicas, in_sync=replicas
            )
            loads.add(placement)
            return placement
    raise _diagnose(tenant, topo, policy)


# --------------------------------------------------------------------------- placing


def place_new_tenant(
    tenant: str,
    sites: Iterable[SiteInfo],
    existing: Iterable[Placement],
    policy: PlacementPolicy = DEFAULT_POLICY,
) -> Placement:
    """Place one new tenant next to the ``existing`` placements.

    The primary goes to the available site with the fewest primaries per
    capacity (then fewest copies per capacity, then name); the replicas to
    the sites with the fewest copies per capacity such that the copies span
    ``min_zones`` hazard zones and ``min_providers`` providers. Every replica
    starts in sync (a new tenant has no data yet), mode ``sync``, epoch 0.
    """
    existing = list(existing)
    if any(p.tenant == tenant for p in existing):
        raise _cannot(
            f"テナント {tenant} はすでに配置されています", f"tenant {tenant} is already placed"
        )
    return _place_one(tenant, _Topology(sites), _Loads(existing), policy)


def place_all(
    tenants: Iterable[str],
    sites: Iterable[SiteInfo],
    policy: PlacementPolicy = DEFAULT_POLICY,
    *,
    existing: Iterable[Placement] = (),
) -> list[Placement]:
    """Place many new tenants at once, balanced.

    Tenants are placed in code order (so the result does not depend on the
    order given) and returned in the order given. With equal capacities and
    nothing existing, the primaries per site stay within one of the mean.
    """
    tenants = list(tenants)
    existing = list(existing)
    seen = {p.tenant for p in existing}
    for tenant in tenants:
        if tenant in seen:
            raise _cannot(
                f"テナント {tenant} が重複しているか、すでに配置されています",
                f"tenant {tenant} is given twice or already placed",
            )
        seen.add(tenant)
    topo = _Topology(sites)
    loads = _Loads(existing)
    placed = {t: _place_one(t, topo, loads, policy) for t in sorted(tenants)}
    return [placed[t] for t in tenants]


# --------------------------------------------------------------------------- checking


def check_placement(
    p: Placement, sites: Iterable[SiteInfo], policy: PlacementPolicy = DEFAULT_POLICY
) -> list[str]:
    """Every constraint ``p`` breaks, one human-readable line each (Japanese / English).

    Empty when the placement is fine. Copies at unavailable sites still count
    towards zones and providers (they hold data), but are reported themselves.
    """
    return _check(p, _Topology(sites), policy)


def _check(p: Placement, topo: _Topology, policy: PlacementPolicy) -> list[str]:
    problems: list[str] = []
    t = p.tenant
    if not is_valid_code(t):
        problems.append(
            f"テナントコード {t!r} は正しい地方公共団体コード（6桁、検査数字付き）ではありません"
            f" / tenant code {t!r} is not a valid 6-digit local-government code"
        )
    if p.mode not in ("sync", "async"):
        problems.append(
            f"{t}: 複製モード {p.mode!r} は sync か async です"
            f" / {t}: replication mode {p.mode!r} must be sync or async"
        )
    if p.epoch < 0:
        problems.append(f"{t}: エポックが負です / {t}: the epoch is negative")
    for name, count in sorted(Counter(p.copies).items()):
        if count > 1:
            problems.append(
                f"{t}: サイト {name} にコピーが{count}個あります（1サイト1コピーまで）"
                f" / {t}: {count} copies at site {name} (at most one per site)"
            )
    distinct = list(dict.fromkeys(p.copies))
    for name in distinct:
        role_ja, role_en = ("主", "primary") if name == p.primary else ("レプリカ", "replica")
        if name not in topo.by_name:
            problems.append(
                f"{t}: {role_ja}のサイト {name} は知られていません"
                f" / {t}: {role_en} site {name} is unknown"
            )
        elif not topo.by_name[name].available:
            problems.append(
                f"{t}: {role_ja}のサイト {name} は利用できません"
                f" / {t}: {role_en} site {name} is unavailable"
            )
    if p.primary in p.in_sync:
        problems.append(
            f"{t}: 主サイト {p.primary} が同期レプリカ集合（ISR）に入っています"
            f" / {t}: the primary {p.primary} is listed in its own in-sync set"
        )
    for name in p.in_sync:
        if name not in p.replicas and name != p.primary:
            problems.append(
                f"{t}: ISR の {name} はレプリカではありません"
                f" / {t}: in-sync member {name} is not a replica"
            )
    if not 0 <= p.min_insync <= len(p.replicas):
        problems.append(
            f"{t}: min_insync {p.min_insync} が 0〜{len(p.replicas)}（レプリカ数）の外です"
            f" / {t}: min_insync {p.min_insync} is outside 0..{len(p.replicas)} (the replicas)"
        )
    elif p.mode == "sync" and p.min_insync < 1:
        problems.append(
            f"{t}: sync モードでは min_insync は1以上です（確定した書き込みを1サイトの喪失から守るため）"
            f" / {t}: in sync mode min_insync must be at least 1"
            " (an acknowledged write must survive the loss of one site)"
        )
    if p.min_insync_zones < 1:
        problems.append(
            f"{t}: min_insync_zones {p.min_insync_zones} は1以上です"
            f" / {t}: min_insync_zones {p.min_insync_zones} must be at least 1"
        )
    rf = policy.replication_factor
    if len(distinct) < rf:
        problems.append(
            f"{t}: コピーが{len(distinct)}個しかなく、複製数 {rf} に足りません"
            f" / {t}: {len(distinct)} copies, below the replication factor {rf}"
        )
    known = topo.known(distinct)
    providers = sorted({s.provider for s in known})
    if len(providers) < policy.min_providers:
        problems.append(
            f"{t}: コピーが{len(providers)}社（{', '.join(providers)}）にしかありません。"
            f"{policy.min_providers}社以上にまたがる必要があります"
            f" / {t}: copies span {len(providers)} provider(s) ({', '.join(providers)}),"
            f" at least {policy.min_providers} required"
        )
    zone_sets = [s.hazard_zones for s in known]
    zones = sorted(_union(zone_sets))
    if len(zones) < policy.min_zones:
        problems.append(
            f"{t}: コピーのハザードゾーンが{len(zones)}つ（{', '.join(zones)}）しかありません。"
            f"{policy.min_zones}つ以上にまたがる必要があります"
            f" / {t}: copies span {len(zones)} hazard zone(s) ({', '.join(zones)}),"
            f" at least {policy.min_zones} required"
        )
    else:
        for lost in _zone_losses(zone_sets, policy.min_zones):
            problems.append(
                f"{t}: ハザードゾーン {' + '.join(lost)} を失うとすべてのコピーを失います"
                f" / {t}: losing hazard zone {' + '.join(lost)} loses every copy"
            )
    if len(known) == len(distinct) and p.min_insync_zones > policy.min_zones:
        # Even with every replica in sync, the zone rule could not be met: every write
        # would be refused. (Up to min_zones the spread checked above guarantees it.)
        for lost in _zone_losses(zone_sets, p.min_insync_zones):
            problems.append(
                f"{t}: min_insync_zones={p.min_insync_zones} を満たせません（ゾーン {' + '.join(lost)}"
                f" を失うとすべてのコピーを失うため、書き込みがすべて拒否されます）"
                f" / {t}: min_insync_zones={p.min_insync_zones} cannot be met (losing"
                f" {' + '.join(lost)} loses every copy): every write would be refused"
            )
    return problems


# --------------------------------------------------------------------------- moves


def apply_move(placement: Placement, move: Move, *, epoch: int | None = None) -> Placement:
    """The placement once ``move`` has been carried out.

    A switchover leaves the old primary as an in-sync replica (a planned
    switchover waits for it); a new replica counts as in sync once its move is
    complete (make before break). The epoch is the etcd revision of the
    placement write, which only the controller knows: pass it as ``epoch``.
    """
    p = placement
    if move.tenant != p.tenant:
        raise ValueError(
            f"移動 {move.kind} はテナント {move.tenant} のもので、{p.tenant} のものではありません"
            f" / move {move.kind} is for tenant {move.tenant}, not {p.tenant}"
        )
    isr = set(p.in_sync)
    if move.kind == "switchover":
        if move.source != p.primary or move.target not in p.replicas:
            raise ValueError(
                f"{p.tenant}: {move.source} から {move.target} への切替は、主サイトからレプリカへではありません"
                f" / {p.tenant}: switchover {move.source} -> {move.target} is not"
                " from the primary to one of its replicas"
            )
        replicas = tuple(p.primary if r == move.target else r for r in p.replicas)
        isr = (isr - {move.target}) | {p.primary}
        primary = move.target
    else:
        if move.target in p.copies:
            raise ValueError(
                f"{p.tenant}: サイト {move.target} にはすでにコピーがあります"
                f" / {p.tenant}: site {move.target} already holds a copy"
            )
        if move.kind == "replace_replica":
            if move.source is None or move.source not in p.replicas:
                raise ValueError(
                    f"{p.tenant}: {move.source} はレプリカではありません"
                    f" / {p.tenant}: {move.source} is not a replica"
                )
            replicas = tuple(move.target if r == move.source else r for r in p.replicas)
            isr = (isr - {move.source}) | {move.target}
        else:
            replicas = (*p.replicas, move.target)
            isr = isr | {move.target}
        primary = p.primary
    in_sync = tuple(r for r in replicas if r in isr)
    result = replace(p, primary=primary, replicas=replicas, in_sync=in_sync)
    return result if epoch is None else replace(result, epoch=epoch)


def _require_well_formed(p: Placement) -> None:
    faults: list[str] = []
    if len(set(p.copies)) != len(p.copies):
        faults.append("two copies at one site")
    if any(r not in p.replicas for r in p.in_sync):
        faults.append("in-sync set is not a subset of the replicas")
    if faults:
        raise _cannot(
            f"テナント {p.tenant} の配置が不正です（{'; '.join(faults)}）",
            f"the placement of tenant {p.tenant} is malformed ({'; '.join(faults)})",
        )


class _Plan:
    """Placements as they will be after the moves planned so far, with indexes."""

    def __init__(
        self, placements: Iterable[Placement], topo: _Topology, policy: PlacementPolicy
    ) -> None:
        self.topo = topo
        self.policy = policy
        self.state: dict[str, Placement] = {}
        self.loads = _Loads()
        self.primary_of: defaultdict[str, set[str]] = defaultdict(set)
        self.holders: defaultdict[str, set[str]] = defaultdict(set)
        # (primary site, in-sync replica site) -> how many tenants: where a switchover can go.
        self.isr_pairs: Counter[tuple[str, str]] = Counter()
        self.moves: list[Move] = []
        for p in placements:
            if p.tenant in self.state:
                raise _cannot(
                    f"テナント {p.tenant} の配置が2つあります",
                    f"tenant {p.tenant} has two placements",
                )
            _require_well_formed(p)
            self.state[p.tenant] = p
            self._index(p, 1)

    def _index(self, p: Placement, sign: int) -> None:
        self.loads.add(p, sign)
        if sign > 0:
            self.primary_of[p.primary].add(p.tenant)
            for name in p.copies:
                self.holders[name].add(p.tenant)
        else:
            self.primary_of[p.primary].discard(p.tenant)
            for name in p.copies:
                self.holders[name].discard(p.tenant)
        for name in p.in_sync:
            self.isr_pairs[(p.primary, name)] += sign

    def do(self, move: Move) -> None:
        old = self.state[move.tenant]
        new = apply_move(old, move)
        self._index(old, -1)
        self._index(new, 1)
        self.state[move.tenant] = new
        self.moves.append(move)

    def diverse(self, names: Sequence[str]) -> bool:
        known = self.topo.known(names)
        return len(known) == len(names) and _diverse(known, self.policy)

    def copy_ratio(self, name: str) -> float:
        return self.loads.copies[name] / self.topo.by_name[name].capacity

    # -- repair: drain unavailable sites, restore the replication factor and diversity

    def repair(self, tenant: str) -> None:
        p = self.state[tenant]
        topo, policy = self.topo, self.policy
        names = p.copies
        broken = [n for n in names if not topo.usable(n)]
        if not broken and len(names) >= policy.replication_factor and self.diverse(names):
            return
        size = max(policy.replication_factor, len(names))
        keep_primary = [topo.by_name[p.primary]] if topo.usable(p.primary) else []
        # Keep the replicas that are usable; in-sync ones first, then the less loaded.
        kept = sorted(
            (r for r in p.replicas if topo.usable(r)),
            key=lambda r: (r not in p.in_sync, self.copy_ratio(r), r),
        )
        pool = [s for s in topo.available if s.name not in names]
        final: list[SiteInfo] | None = None
        for m in range(len(kept), -1, -1):
            for combo in itertools.combinations(kept, m):
                chosen = keep_primary + [topo.by_name[r] for r in combo]
                final = _fill(chosen, size - len(chosen), pool, self.loads, policy, p.primary)
                if final is not None:
                    break
            if final is not None:
                break
        if final is None:
            raise _diagnose(tenant, topo, policy)
        final_names = [s.name for s in final]
        if keep_primary:
            new_primary = p.primary
        else:
            groups = (
                [r for r in final_names if r in p.in_sync],
                [r for r in final_names if r in p.replicas],
                [r for r in final_names if r not in names],
            )
            group = next(g for g in groups if g)
            new_primary = min((topo.by_name[n] for n in group), key=self.loads.primary_key).name
        reason: MoveReason = "drain" if broken else "repair"
        steps = self._sequence(p, final_names, new_primary, reason, strict=self.diverse(names))
        if steps is None:
            steps = self._sequence(p, final_names, new_primary, reason, strict=False)
        if steps is None:
            raise _cannot(
                f"テナント {tenant} を {', '.join(final_names)} へ移す手順がありません",
                f"no sequence of moves takes tenant {tenant} to {', '.join(final_names)}",
            )
        for step in steps:
            self.do(step)

    def _sequence(
        self,
        start: Placement,
        final: Sequence[str],
        new_primary: str,
        reason: MoveReason,
        *,
        strict: bool,
    ) -> list[Move] | None:
        """Moves from ``start`` to the copy set ``final`` with ``new_primary`` as primary.

        When ``strict``, every intermediate copy set stays diverse too.
        """
        final_set = frozenset(final)

        def search(cur: Placement, to_add: tuple[str, ...]) -> list[Move] | None:
            removable = [r for r in cur.replicas if r not in final_set]
            if cur.primary == new_primary and not removable and not to_add:
                return []
            options: list[Move] = []
            if cur.primary != new_primary and new_primary in cur.replicas:
                options.append(Move("switchover", cur.tenant, cur.primary, new_primary, reason))
            for r in removable:
                for a in to_add:
                    options.append(Move("replace_replica", cur.tenant, r, a, reason))
            if len(cur.copies) < len(final_set):
                for a in to_add:
                    options.append(Move("add_replica", cur.tenant, None, a, reason))
            for move in options:
                nxt = apply_move(cur, move)
                if strict and not self.diverse(nxt.copies):
                    continue
                rest = search(nxt, tuple(a for a in to_add if a != move.target))
                if rest is not None:
                    return [move, *rest]
            return None

        return search(start, tuple(n for n in final if n not in start.copies))

    # -- balance

    def _deviations(self, counts: Counter[str], total: int) -> dict[str, int]:
        """(count - fair share) * total capacity, exact: > capacity_total means over by > 1."""
        c = self.topo.capacity_total
        return {s.name: counts[s.name] * c - total * s.capacity for s in self.topo.available}

    def _balance(self, counts: Counter[str], total: int, step: _Step) -> None:
        c = self.topo.capacity_total
        while True:
            dev = self._deviations(counts, total)
            over = sorted((n for n in dev if dev[n] > c), key=lambda n: (-dev[n], n))
            under = sorted((n for n in dev if dev[n] < -c), key=lambda n: (dev[n], n))
            if not over and not under:
                return
            # A move from a site at or above its share to one at or below it, with
            # at least one of them out of band, always brings the counts closer.
            dsts = sorted((n for n in dev if dev[n] <= 0), key=lambda n: (dev[n], n))
            srcs = sorted((n for n in dev if dev[n] >= 0), key=lambda n: (-dev[n], n))
            direct = [(a, b) for a in over for b in under]
            one_sided = [(a, d) for a in over for d in dsts if d not in under] + [
                (s, b) for b in under for s in srcs if s not in over
            ]
            if not step(direct, one_sided):
                return  # nothing keeps the constraints: stay as balanced as we are

    def balance_primaries(self) -> None:
        self._balance(self.loads.primaries, len(self.state), self._primary_step)

    def balance_copies(self) -> None:
        total = sum(self.loads.copies[s.name] for s in self.topo.available)
        self._balance(self.loads.copies, total, self._copy_step)

    def _primary_step(
        self, direct: list[tuple[str, str]], one_sided: list[tuple[str, str]]
    ) -> bool:
        # Cheapest first: one switchover; two switchovers through a third site;
        # then a replica replacement followed by a switchover (copies data).
        return (
            any(self._switch(a, b) for a, b in direct)
            or any(self._chain(a, b) for a, b in direct)
            or any(self._switch(a, b) for a, b in one_sided)
            or any(self._replace_and_switch(a, b) for a, b in direct + one_sided)
        )

    def _switch(self, src: str, dst: str) -> bool:
        if self.isr_pairs[(src, dst)] <= 0:
            return False
        tenant = min(t for t in self.primary_of[src] if dst in self.state[t].in_sync)
        self.do(Move("switchover", tenant, src, dst, "balance-primaries"))
        return True

    def _chain(self, src: str, dst: str) -> bool:
        for via in (s.name for s in self.topo.available):
            if (
                via not in (src, dst)
                and self.isr_pairs[(src, via)] > 0
                and self.isr_pairs[(via, dst)] > 0
            ):
                second = min(t for t in self.primary_of[via] if dst in self.state[t].in_sync)
                self._switch(src, via)
                self.do(Move("switchover", second, via, dst, "balance-primaries"))
                return True
        return False

    def _replace_and_switch(self, src: str, dst: str) -> bool:
        best: tuple[tuple[bool, float, str, str], str, str] | None = None
        for tenant in self.primary_of[src]:
            p = self.state[tenant]
            if dst in p.copies:
                continue
            for r in p.replicas:
                copies = [dst if n == r else n for n in p.copies]
                if not self.diverse(copies):
                    continue
                # Replace a lagging replica first, then the one at the most loaded site.
                key = (r in p.in_sync, -self.copy_ratio(r), tenant, r)
                if best is None or key < best[0]:
                    best = (key, tenant, r)
        if best is None:
            return False
        _, tenant, r = best
        self.do(Move("replace_replica", tenant, r, dst, "balance-primaries"))
        self.do(Move("switchover", tenant, src, dst, "balance-primaries"))
        return True

    def _copy_step(self, direct: list[tuple[str, str]], one_sided: list[tuple[str, str]]) -> bool:
        return any(self._move_replica(a, b) for a, b in direct + one_sided)

    def _move_replica(self, src: str, dst: str) -> bool:
        for tenant in sorted(self.holders[src]):
            p = self.state[tenant]
            if p.primary == src or dst in p.copies:
                continue
            if self.diverse([dst if n == src else n for n in p.copies]):
                self.do(Move("replace_replica", tenant, src, dst, "balance-copies"))
                return True
        return False


def rebalance(
    placements: Iterable[Placement],
    sites: Iterable[SiteInfo],
    policy: PlacementPolicy = DEFAULT_POLICY,
    *,
    balance_copies: bool = False,
) -> list[Move]:
    """Plan the moves that restore the constraints and balance the primaries.

    1. Repair, tenant by tenant in code order: move primaries off unavailable
       sites (switchover to an in-sync replica, the least loaded), replace
       replicas at unavailable sites, restore the replication factor and the
       zone/provider spread. Each intermediate copy set stays diverse.
    2. Balance the primaries to within one of each site's share (the mean when
       capacities are equal): a switchover to an in-sync replica where one
       exists, two switchovers through a third site, else a replica
       replacement and a switchover. Switchovers never change the copy set,
       and a replacement is only planned when the new copy set keeps every
       constraint.
    3. Only with ``balance_copies``: replica replacements that bring the
       copies per site within one of its share too (copies data: opt in).

    Moves are returned in the order they must be carried out; apply them with
    :func:`apply_move` to see each intermediate placement. A switchover needs
    the old primary up: when a site is lost rather than drained, the
    controller first promotes with :func:`choose_promotion`, then rebalances.
    A balance that no constraint-keeping move can improve is left as it is.
    """
    topo = _Topology(sites)
    if not topo.available:
        raise _cannot("利用できるサイトがありません", "no site is available")
    plan = _Plan(placements, topo, policy)
    for tenant in sorted(plan.state):
        plan.repair(tenant)
    plan.balance_primaries()
    if balance_copies:
        plan.balance_copies()
    return plan.moves


# --------------------------------------------------------------------------- promotion


def choose_promotion(
    placement: Placement,
    sites: Iterable[SiteInfo],
    sealed_seqs: Mapping[str, int],
    lost_site: str,
    *,
    primaries: Mapping[str, int] | None = None,
) -> str | None:
    """The replica to promote after ``lost_site`` (the tenant's primary) is lost.

    Only members of the in-sync set that have sealed the new epoch
    (``sealed_seqs``: site -> its highest durable seq) are candidates. Among
    them: the highest seq; then an available site before an unavailable one;
    then a site outside the lost primary's hazard zones; then the fewest
    primaries per capacity (``primaries``: site -> primaries it holds), the
    larger capacity, the name. None when no candidate exists: the controller
    must not promote anyone.
    """
    topo = _Topology(sites)
    lost = topo.by_name.get(lost_site)
    lost_zones = lost.hazard_zones if lost is not None else frozenset[str]()
    counts = primaries or {}

    def key(site: SiteInfo) -> tuple[int, bool, bool, float, int, str]:
        return (
            -sealed_seqs[site.name],
            not site.available,
            bool(site.hazard_zones & lost_zones),
            counts.get(site.name, 0) / site.capacity,
            -site.capacity,
            site.name,
        )

    candidates = [
        topo.by_name[name]
        for name in dict.fromkeys(placement.in_sync)
        if name != lost_site
        and name in placement.replicas
        and name in sealed_seqs
        and name in topo.by_name
    ]
    if not candidates:
        return None
    return min(candidates, key=key).name


# --------------------------------------------------------------------------- restoring the factor


@dataclass(frozen=True)
class Restoration:
    """How a tenant's live copies compare with the replication factor, and what restores it.

    ``live``: members at available sites, the primary first; ``lost``: members at
    unavailable or unknown sites (they keep their place in the placement until they
    return); ``catching_up``: live replicas outside the in-sync set (a new replica
    bootstrapping, or one coming back); ``target``: the site to add a replica at now,
    or None; ``reason``: why nothing can be added (Japanese / English), empty otherwise.
    """

    tenant: str
    wanted: int
    live: tuple[str, ...]
    lost: tuple[str, ...]
    catching_up: tuple[str, ...]
    target: str | None = None
    reason: str = ""

    @property
    def under_replicated(self) -> bool:
        return len(self.live) < self.wanted

    def summary(self) -> str:
        """One line for `yui placement show` (Japanese / English)."""
        count = f"{len(self.live)}/{self.wanted}"
        joining = ", ".join(self.catching_up)
        if not self.under_replicated:
            if joining:
                return f"{count} 追いつき中 {joining} / {count} catching up: {joining}"
            return f"{count} ok"
        lost = ", ".join(self.lost) or "-"
        if self.target is not None:
            return (
                f"{count} 不足（{lost} 喪失）→ {self.target} に追加 / {count} under-replicated"
                f" ({lost} lost): restoring at {self.target}"
            )
        return f"{count} 不足（{lost} 喪失）/ {count} under-replicated ({lost} lost): {self.reason}"


def plan_restoration(
    placement: Placement,
    sites: Iterable[SiteInfo],
    existing: Iterable[Placement] = (),
    policy: PlacementPolicy = DEFAULT_POLICY,
    *,
    suspect: Collection[str] = (),
) -> Restoration:
    """Where to add a replica so that ``placement`` has ``replication_factor`` live copies.

    Counts the members at available sites. When they are fewer than the factor and the
    primary is available (it bootstraps the new copy), the target is an available site
    that holds no copy yet such that the live copies and the new ones span
    ``min_zones`` hazard zones and ``min_providers`` providers, chosen as replicas are
    (fewest replicas of this primary's tenants, then fewest copies per capacity over
    ``existing``, then the site adding a missing provider or zone, then name). A member
    at an unavailable site is never removed here: it rejoins as a replica when it returns.
    ``suspect`` sites (gone, but not yet for long) still count as copies and take none.
    """
    topo = _Topology(sites)
    p = placement
    live = tuple(n for n in dict.fromkeys(p.copies) if topo.usable(n))
    lost = tuple(n for n in dict.fromkeys(p.copies) if not topo.usable(n))
    catching_up = tuple(r for r in p.replicas if r in live and r not in p.in_sync)
    found = Restoration(p.tenant, policy.replication_factor, live, lost, catching_up)
    needed = policy.replication_factor - len(live)
    if needed <= 0:
        return found
    if not topo.usable(p.primary):
        return replace(
            found,
            reason="主系サイトが失われています（昇格を待っています）"
            " / the primary's site is lost (waiting for a promotion)",
        )
    pool = [s for s in topo.available if s.name not in p.copies and s.name not in suspect]
    if not pool:
        return replace(
            found,
            reason="コピーを持たない利用可能なサイトがありません"
            " / no available site is without a copy of this tenant",
        )
    chosen = [topo.by_name[n] for n in live]
    loads = _Loads(existing)
    added = _fill(chosen, min(needed, len(pool)), pool, loads, policy, p.primary)
    if added is None:
        names = ", ".join(s.name for s in pool)
        return replace(
            found,
            reason=f"コピーを持たないサイト（{names}）を足しても {policy.min_zones} つ以上のハザードゾーンと"
            f" {policy.min_providers} 社以上の事業者にまたがりません / no site without a copy ({names})"
            f" keeps the copies across {policy.min_zones} hazard zones and"
            f" {policy.min_providers} providers",
        )
    return replace(found, target=added[len(chosen)].name)
