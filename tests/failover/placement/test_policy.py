"""The placement policy (failover/placement, docs/placement.md)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from fractions import Fraction

import pytest

from failover.placement import (
    Move,
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
from replication.primary.zones import zone_rule_gaps
from yui.tenancy.codes import check_digit, is_valid_code

# --------------------------------------------------------------------------- fixtures


def site(
    name: str, provider: str, *zones: str, capacity: int = 1, available: bool = True
) -> SiteInfo:
    return SiteInfo(
        name=name,
        provider=provider,
        region=name.split("-", 1)[1],
        hazard_zones=frozenset(zones),
        capacity=capacity,
        available=available,
    )


# Six sites, five providers, four hazard zones (illustrative names).
SIX_SITES: tuple[SiteInfo, ...] = (
    site("aws-tokyo", "aws", "kanto"),
    site("azure-tokyo", "azure", "kanto"),
    site("gcp-osaka", "gcp", "kansai-nankai"),
    site("oci-osaka", "oci", "kansai-nankai"),
    site("sakura-ishikari", "sakura", "hokkaido"),
    site("aws-fukuoka", "aws", "kyushu"),
)

REAL_CODES = {
    "011002": "札幌市",
    "041009": "仙台市",
    "131016": "千代田区",
    "271004": "大阪市",
    "401307": "福岡市",
}


def municipality_codes(n: int = 1741) -> list[str]:
    """``n`` distinct valid local-government codes: a few real ones, then 47 prefectures round."""
    codes = list(REAL_CODES)
    i = 0
    while len(codes) < n:
        five = f"{i % 47 + 1:02d}{201 + i // 47:03d}"
        code = five + str(check_digit(five))
        if code not in codes:
            codes.append(code)
        i += 1
    return codes


def code(i: int) -> str:
    five = f"13{100 + i:03d}"
    return five + str(check_digit(five))


def apply_all(placements: Iterable[Placement], moves: Sequence[Move]) -> dict[str, Placement]:
    state = {p.tenant: p for p in placements}
    for move in moves:
        state[move.tenant] = apply_move(state[move.tenant], move)
    return state


def assert_within_one_of_share(counts: Counter[str], sites: Sequence[SiteInfo]) -> None:
    avail = [s for s in sites if s.available]
    total = sum(counts[s.name] for s in avail)
    cap = sum(s.capacity for s in avail)
    for s in avail:
        share = Fraction(total * s.capacity, cap)
        assert abs(counts[s.name] - share) <= 1, (s.name, counts[s.name], float(share))
    for s in sites:
        if not s.available:
            assert counts[s.name] == 0, s.name


def primaries(placements: Iterable[Placement]) -> Counter[str]:
    return Counter(p.primary for p in placements)


def copies(placements: Iterable[Placement]) -> Counter[str]:
    return Counter(name for p in placements for name in p.copies)


# --------------------------------------------------------------------------- tenant codes


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [
        ("041009", True),  # 仙台市
        ("131016", True),  # 千代田区
        ("011002", True),  # 札幌市
        ("041008", False),  # wrong check digit
        ("04100", False),
        ("0410090", False),
        ("04100a", False),
        ("０４１００９", False),  # full-width digits
        ("", False),
    ],
)
def test_tenant_code(candidate: str, valid: bool) -> None:
    assert is_valid_code(candidate) is valid


def test_municipality_codes_are_distinct_and_valid() -> None:
    codes = municipality_codes()
    assert len(codes) == len(set(codes)) == 1741
    assert all(is_valid_code(c) for c in codes)


# --------------------------------------------------------------------------- placing one tenant

EXISTING_ON_FUKUOKA = (
    Placement(code(90), "aws-fukuoka", ("azure-tokyo", "gcp-osaka"), ("azure-tokyo", "gcp-osaka")),
)


@pytest.mark.parametrize(
    ("sites", "existing", "policy", "primary", "replicas"),
    [
        pytest.param(
            SIX_SITES,
            (),
            PlacementPolicy(),
            "aws-fukuoka",
            ("azure-tokyo", "gcp-osaka"),
            id="empty: ties by name; replicas add providers and zones",
        ),
        pytest.param(
            SIX_SITES,
            EXISTING_ON_FUKUOKA,
            PlacementPolicy(),
            "aws-tokyo",
            ("oci-osaka", "sakura-ishikari"),
            id="primary at the site with fewest primaries, replicas at the least-copied",
        ),
        pytest.param(
            (*SIX_SITES[:5], replace(SIX_SITES[5], capacity=3)),
            EXISTING_ON_FUKUOKA,
            PlacementPolicy(),
            "aws-fukuoka",
            ("oci-osaka", "sakura-ishikari"),
            id="capacity 3 takes a second primary before others take their first",
        ),
        pytest.param(
            (
                site("a-tokyo", "a", "kanto", "nankai"),
                site("b-tokyo", "b", "kanto"),
                site("b-sapporo", "b", "hokkaido"),
            ),
            (),
            PlacementPolicy(replication_factor=2),
            "a-tokyo",
            ("b-sapporo",),
            id="a site in two zones: losing kanto must not take both copies",
        ),
        pytest.param(
            (
                site("a-tokyo", "a", "kanto"),
                site("a-osaka", "a", "kansai-nankai"),
                site("b-tokyo", "b", "kanto"),
            ),
            (),
            PlacementPolicy(replication_factor=2),
            "a-osaka",
            ("b-tokyo",),
            id="rf 2: the pair must differ in provider and zone",
        ),
        pytest.param(
            (
                site("a-tokyo", "a", "kanto"),
                site("a-osaka", "a", "kansai-nankai", available=False),
                site("b-tokyo", "b", "kanto"),
                site("c-sapporo", "c", "hokkaido"),
            ),
            (),
            PlacementPolicy(),
            "a-tokyo",
            ("c-sapporo", "b-tokyo"),
            id="an unavailable site gets nothing",
        ),
        pytest.param(
            SIX_SITES,
            (),
            PlacementPolicy(min_zones=3, min_providers=3),
            "aws-fukuoka",
            ("azure-tokyo", "gcp-osaka"),
            id="three zones, three providers",
        ),
    ],
)
def test_place_new_tenant(
    sites: Sequence[SiteInfo],
    existing: Sequence[Placement],
    policy: PlacementPolicy,
    primary: str,
    replicas: tuple[str, ...],
) -> None:
    placed = place_new_tenant(code(1), sites, existing, policy)
    assert (placed.primary, placed.replicas) == (primary, replicas)
    assert placed.in_sync == placed.replicas
    assert (placed.mode, placed.min_insync, placed.epoch) == ("sync", 1, 0)
    assert check_placement(placed, sites, policy) == []


@pytest.mark.parametrize(
    ("sites", "existing", "tenant", "policy", "words"),
    [
        pytest.param(
            (
                site("aws-tokyo", "aws", "kanto"),
                site("aws-osaka", "aws", "kansai-nankai"),
                site("aws-fukuoka", "aws", "kyushu"),
            ),
            (),
            code(1),
            PlacementPolicy(),
            "provider",
            id="only one provider",
        ),
        pytest.param(
            (
                site("aws-tokyo", "aws", "kanto"),
                site("gcp-tokyo", "gcp", "kanto"),
                site("oci-tokyo", "oci", "kanto"),
            ),
            (),
            code(1),
            PlacementPolicy(),
            "hazard zone",
            id="only one zone",
        ),
        pytest.param(
            SIX_SITES[:2],
            (),
            code(1),
            PlacementPolicy(),
            "only 2 available site(s)",
            id="fewer sites than copies",
        ),
        pytest.param(
            tuple(replace(s, available=s.provider == "aws") for s in SIX_SITES),
            (),
            code(1),
            PlacementPolicy(),
            "provider",
            id="only aws still available",
        ),
        pytest.param(
            (
                site("b-tokyo", "b", "kanto", "nankai"),
                site("a-tokyo", "a", "kanto"),
                site("a-osaka", "a", "nankai"),
            ),
            (),
            code(1),
            PlacementPolicy(replication_factor=2),
            "no 2 available sites",
            id="providers and zones each possible, never together",
        ),
        pytest.param(
            SIX_SITES,
            EXISTING_ON_FUKUOKA,
            code(90),
            PlacementPolicy(),
            "already placed",
            id="already placed",
        ),
        pytest.param(
            SIX_SITES,
            (),
            "041008",
            PlacementPolicy(),
            "not a valid 6-digit",
            id="bad check digit",
        ),
    ],
)
def test_place_new_tenant_refuses(
    sites: Sequence[SiteInfo],
    existing: Sequence[Placement],
    tenant: str,
    policy: PlacementPolicy,
    words: str,
) -> None:
    with pytest.raises(PlacementError) as caught:
        place_new_tenant(tenant, sites, existing, policy)
    message = str(caught.value)
    assert message.startswith("配置できません: ")
    assert " / cannot place: " in message
    assert words in message
    assert isinstance(caught.value, ValueError)


def test_duplicate_site_names_are_refused() -> None:
    with pytest.raises(PlacementError, match="appears twice"):
        place_new_tenant(code(1), [*SIX_SITES, SIX_SITES[0]], [])


# --------------------------------------------------------------------------- placing many

SITE_SETS = {
    "six sites": (SIX_SITES, PlacementPolicy()),
    "three sites, rf 3": (
        (
            site("aws-tokyo", "aws", "kanto"),
            site("gcp-osaka", "gcp", "kansai-nankai"),
            site("sakura-ishikari", "sakura", "hokkaido"),
        ),
        PlacementPolicy(),
    ),
    "multi-zone sites": (
        (
            site("a-tokyo", "a", "kanto", "tokyo-bay"),
            site("b-tokyo", "b", "kanto"),
            site("c-kochi", "c", "nankai", "shikoku"),
            site("a-osaka", "a", "nankai"),
            site("b-sapporo", "b", "hokkaido"),
        ),
        PlacementPolicy(),
    ),
    "unequal capacity": (
        (*SIX_SITES[:4], replace(SIX_SITES[4], capacity=2), replace(SIX_SITES[5], capacity=3)),
        PlacementPolicy(),
    ),
    "rf 2": (SIX_SITES, PlacementPolicy(replication_factor=2)),
    "rf 4, three zones": (SIX_SITES, PlacementPolicy(replication_factor=4, min_zones=3)),
}


@pytest.mark.parametrize("name", SITE_SETS)
def test_place_all_keeps_every_constraint(name: str) -> None:
    sites, policy = SITE_SETS[name]
    tenants = [code(i) for i in range(200)]
    placed = place_all(tenants, sites, policy)
    assert [p.tenant for p in placed] == tenants
    for p in placed:
        assert check_placement(p, sites, policy) == []
        assert len(set(p.copies)) == len(p.copies) == policy.replication_factor
    assert_within_one_of_share(primaries(placed), sites)


def test_place_all_refuses_duplicates() -> None:
    with pytest.raises(PlacementError, match="given twice"):
        place_all([code(1), code(1)], SIX_SITES)


def test_all_1741_municipalities_over_six_sites(capsys: pytest.CaptureFixture[str]) -> None:
    tenants = municipality_codes()
    started = time.perf_counter()
    placed = place_all(tenants, SIX_SITES)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nplace_all: {len(tenants)} tenants over 6 sites in {elapsed * 1000:.1f} ms")

    assert len(placed) == 1741
    assert all(check_placement(p, SIX_SITES) == [] for p in placed)
    counts = primaries(placed)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert_within_one_of_share(counts, SIX_SITES)
    assert_within_one_of_share(copies(placed), SIX_SITES)
    # When a site fails, its primaries fan out over every other site.
    for primary in SIX_SITES:
        fan = Counter(r for p in placed if p.primary == primary.name for r in p.replicas)
        assert len(fan) == 5
        assert max(fan.values()) - min(fan.values()) <= 2, (primary.name, fan)
    # Deterministic, whatever the order given.
    again = place_all(list(reversed(tenants)), SIX_SITES)
    assert sorted(again, key=lambda p: p.tenant) == sorted(placed, key=lambda p: p.tenant)
    assert elapsed < 5


def test_place_new_tenant_matches_place_all_one_by_one() -> None:
    tenants = sorted(code(i) for i in range(30))
    placed: list[Placement] = []
    for tenant in tenants:
        placed.append(place_new_tenant(tenant, SIX_SITES, placed))
    assert placed == place_all(tenants, SIX_SITES)


# --------------------------------------------------------------------------- checking

GOOD = Placement(code(1), "aws-tokyo", ("gcp-osaka", "sakura-ishikari"), ("gcp-osaka",))


@pytest.mark.parametrize(
    ("placement", "sites", "expected"),
    [
        pytest.param(GOOD, SIX_SITES, [], id="fine"),
        pytest.param(
            replace(GOOD, replicas=("gcp-osaka", "gcp-osaka")),
            SIX_SITES,
            ["2 copies at site gcp-osaka", "2 copies, below the replication factor 3"],
            id="two copies at one site",
        ),
        pytest.param(
            replace(GOOD, replicas=("azure-tokyo", "aws-fukuoka"), in_sync=()),
            SIX_SITES,
            [],
            id="two zones, three providers: fine",
        ),
        pytest.param(
            replace(GOOD, replicas=("azure-tokyo", "aws-fukuoka"), in_sync=(), tenant="041008"),
            SIX_SITES,
            ["tenant code '041008' is not a valid"],
            id="bad tenant code",
        ),
        pytest.param(
            replace(GOOD, replicas=("azure-tokyo",), in_sync=("azure-tokyo",)),
            SIX_SITES,
            ["2 copies, below the replication factor 3", "1 hazard zone(s) (kanto)"],
            id="one zone, too few copies",
        ),
        pytest.param(
            replace(GOOD, primary="aws-fukuoka", replicas=("aws-tokyo", "azure-tokyo"), in_sync=()),
            (*SIX_SITES[:5], site("aws-fukuoka", "aws", "kyushu", available=False)),
            ["primary site aws-fukuoka is unavailable"],
            id="unavailable primary",
        ),
        pytest.param(
            replace(GOOD, primary="aws-fukuoka", replicas=("aws-tokyo", "aws-osaka"), in_sync=()),
            (*SIX_SITES, site("aws-osaka", "aws", "kansai-nankai")),
            ["copies span 1 provider(s) (aws)"],
            id="one provider",
        ),
        pytest.param(
            replace(GOOD, replicas=("gcp-osaka", "nowhere"), in_sync=("nowhere", "gcp-osaka")),
            SIX_SITES,
            ["replica site nowhere is unknown"],
            id="unknown site",
        ),
        pytest.param(
            replace(GOOD, in_sync=("aws-tokyo", "oci-osaka")),
            SIX_SITES,
            ["listed in its own in-sync set", "in-sync member oci-osaka is not a replica"],
            id="bad in-sync set",
        ),
        pytest.param(
            replace(GOOD, min_insync=0),
            SIX_SITES,
            ["in sync mode min_insync must be"],
            id="sync without an in-sync replica",
        ),
        pytest.param(replace(GOOD, min_insync=0, mode="async"), SIX_SITES, [], id="async, 0"),
        pytest.param(
            replace(GOOD, min_insync=3),
            SIX_SITES,
            ["min_insync 3 is outside 0..2"],
            id="min_insync above the replicas",
        ),
        pytest.param(
            Placement(code(1), "a-tokyo", ("b-tokyo", "c-kochi"), ()),
            (
                site("a-tokyo", "a", "kanto", "nankai"),
                site("b-tokyo", "b", "kanto"),
                site("c-kochi", "c", "kanto", "nankai"),
            ),
            ["losing hazard zone kanto loses every copy"],
            id="two zones named, yet one zone loss takes all",
        ),
    ],
)
def test_check_placement(
    placement: Placement, sites: Sequence[SiteInfo], expected: list[str]
) -> None:
    problems = check_placement(placement, sites)
    assert len(problems) == len(expected), problems
    for problem, words in zip(problems, expected, strict=True):
        assert words in problem
        ja, en = problem.split(" / ", 1)
        assert ja and en and not ja.isascii()


# --------------------------------------------------------------------------- moves


def test_apply_move() -> None:
    p = Placement(code(1), "aws-tokyo", ("gcp-osaka", "sakura-ishikari"), ("gcp-osaka",), epoch=7)
    switched = apply_move(p, Move("switchover", p.tenant, "aws-tokyo", "gcp-osaka", "repair"))
    assert switched.primary == "gcp-osaka"
    assert switched.replicas == ("aws-tokyo", "sakura-ishikari")
    assert switched.in_sync == ("aws-tokyo",)
    assert switched.epoch == 7
    moved = apply_move(
        p, Move("replace_replica", p.tenant, "gcp-osaka", "oci-osaka", "repair"), epoch=9
    )
    assert moved.replicas == ("oci-osaka", "sakura-ishikari")
    assert moved.in_sync == ("oci-osaka",)
    assert moved.epoch == 9
    added = apply_move(p, Move("add_replica", p.tenant, None, "aws-fukuoka", "repair"))
    assert added.replicas == ("gcp-osaka", "sakura-ishikari", "aws-fukuoka")
    for bad in (
        Move("switchover", p.tenant, "gcp-osaka", "sakura-ishikari", "repair"),
        Move("replace_replica", p.tenant, "oci-osaka", "aws-fukuoka", "repair"),
        Move("add_replica", p.tenant, None, "gcp-osaka", "repair"),
        Move("add_replica", code(2), None, "oci-osaka", "repair"),
    ):
        with pytest.raises(ValueError, match=" / "):
            apply_move(p, bad)


# --------------------------------------------------------------------------- rebalance


def check_plan(
    placements: Sequence[Placement], sites: Sequence[SiteInfo], moves: Sequence[Move]
) -> dict[str, Placement]:
    """Apply the moves one by one: none adds a violation; at the end, none is left."""
    state = {p.tenant: p for p in placements}
    for move in moves:
        before = check_placement(state[move.tenant], sites)
        if move.kind == "switchover" and move.reason.startswith("balance"):
            assert move.target in state[move.tenant].in_sync
        state[move.tenant] = apply_move(state[move.tenant], move)
        after = check_placement(state[move.tenant], sites)
        assert len(after) <= len(before), (move, after)
        if not before:
            assert after == [], (move, after)
    for p in state.values():
        assert check_placement(p, sites) == []
    assert_within_one_of_share(primaries(state.values()), sites)
    return state


def test_rebalance_of_a_balanced_placement_is_empty() -> None:
    placed = place_all(municipality_codes(300), SIX_SITES)
    assert rebalance(placed, SIX_SITES) == []
    assert rebalance(placed, SIX_SITES, balance_copies=True) == []


def test_rebalance_after_adding_a_site() -> None:
    placed = place_all(municipality_codes(), SIX_SITES)
    seven = (*SIX_SITES, site("sakura-tokyo", "sakura", "kanto"))
    moves = rebalance(placed, seven)
    state = check_plan(placed, seven, moves)
    # The new site needs ceil(1741/7 - 1) = 248 primaries; it holds no copy, so each
    # takes one replica replacement and one switchover: 496 moves, no fewer.
    assert primaries(state.values())["sakura-tokyo"] == 248
    assert len(moves) == 2 * 248
    assert Counter(m.kind for m in moves) == {"replace_replica": 248, "switchover": 248}
    assert rebalance(list(state.values()), seven) == []


def test_rebalance_after_adding_a_site_with_copies() -> None:
    placed = place_all(municipality_codes(), SIX_SITES)
    seven = (*SIX_SITES, site("sakura-tokyo", "sakura", "kanto"))
    moves = rebalance(placed, seven, balance_copies=True)
    state = check_plan(placed, seven, moves)
    assert_within_one_of_share(copies(state.values()), seven)


def test_rebalance_after_a_site_becomes_unavailable() -> None:
    placed = place_all(municipality_codes(), SIX_SITES)
    down = tuple(replace(s, available=s.name != "aws-tokyo") for s in SIX_SITES)
    moves = rebalance(placed, down)
    state = check_plan(placed, down, moves)
    assert all("aws-tokyo" not in p.copies for p in state.values())
    # Exactly the drain: every primary there switched, every copy there replaced.
    on_tokyo = [p for p in placed if "aws-tokyo" in p.copies]
    assert Counter((m.kind, m.reason) for m in moves) == {
        ("switchover", "drain"): primaries(placed)["aws-tokyo"],
        ("replace_replica", "drain"): len(on_tokyo),
    }
    for move in moves:
        if move.kind == "switchover":
            assert move.target in {p.tenant: p for p in placed}[move.tenant].in_sync
    assert_within_one_of_share(copies(state.values()), down)


@pytest.mark.parametrize(
    ("placements", "expected"),
    [
        pytest.param(
            [
                Placement(
                    code(i),
                    "aws-tokyo",
                    ("gcp-osaka", "sakura-ishikari"),
                    ("gcp-osaka", "sakura-ishikari"),
                )
                for i in range(3)
            ],
            [
                Move("switchover", code(0), "aws-tokyo", "gcp-osaka", "balance-primaries"),
                Move("switchover", code(1), "aws-tokyo", "sakura-ishikari", "balance-primaries"),
            ],
            id="one switchover per excess primary",
        ),
        pytest.param(
            [
                Placement(code(i), "aws-tokyo", ("gcp-osaka", "sakura-ishikari"), ("gcp-osaka",))
                for i in range(3)
            ],
            [
                Move("switchover", code(0), "aws-tokyo", "gcp-osaka", "balance-primaries"),
                Move(
                    "replace_replica",
                    code(1),
                    "sakura-ishikari",
                    "azure-tokyo",
                    "balance-primaries",
                ),
                Move("switchover", code(1), "aws-tokyo", "azure-tokyo", "balance-primaries"),
            ],
            id="only to in-sync replicas; else replace a lagging replica first",
        ),
        pytest.param(
            [
                Placement(code(0), "aws-tokyo", ("gcp-osaka", "old-site"), ("gcp-osaka",)),
                Placement(
                    code(1),
                    "gcp-osaka",
                    ("old-site", "sakura-ishikari"),
                    ("old-site", "sakura-ishikari"),
                ),
            ],
            [
                Move("replace_replica", code(0), "old-site", "azure-tokyo", "drain"),
                Move("replace_replica", code(1), "old-site", "oci-osaka", "drain"),
            ],
            id="drain a site no longer listed",
        ),
    ],
)
def test_rebalance_small(placements: list[Placement], expected: list[Move]) -> None:
    sites = SIX_SITES[:5]
    moves = rebalance(placements, sites)
    assert moves == expected
    check_plan(placements, sites, moves)


def test_rebalance_refuses_when_nothing_can_hold_the_copies() -> None:
    placed = place_all([code(i) for i in range(10)], SIX_SITES)
    only_aws = tuple(replace(s, available=s.provider == "aws") for s in SIX_SITES)
    with pytest.raises(PlacementError, match=r"^配置できません: .* / cannot place: .*provider"):
        rebalance(placed, only_aws)


def test_rebalance_drains_a_primary_with_no_in_sync_replica() -> None:
    p = Placement(code(1), "aws-tokyo", ("gcp-osaka", "sakura-ishikari"), ())
    down = tuple(replace(s, available=s.name != "aws-tokyo") for s in SIX_SITES)
    moves = rebalance([p], down)
    state = check_plan([p], down, moves)
    assert moves[0].kind == "switchover"
    assert "aws-tokyo" not in state[p.tenant].copies


def test_rebalance_restores_the_replication_factor() -> None:
    p = Placement(code(1), "aws-tokyo", ("gcp-osaka",), ("gcp-osaka",))
    moves = rebalance([p], SIX_SITES)
    assert [m.kind for m in moves] == ["add_replica"]
    check_plan([p], SIX_SITES, moves)


# --------------------------------------------------------------------------- promotion

ISR3 = Placement(
    code(1),
    "aws-tokyo",
    ("azure-tokyo", "gcp-osaka", "oci-osaka"),
    ("azure-tokyo", "gcp-osaka", "oci-osaka"),
)


@pytest.mark.parametrize(
    ("placement", "sites", "sealed", "counts", "expected"),
    [
        pytest.param(
            ISR3,
            SIX_SITES,
            {"azure-tokyo": 12, "gcp-osaka": 11},
            None,
            "azure-tokyo",
            id="highest seq wins, even in the lost zone",
        ),
        pytest.param(
            ISR3,
            SIX_SITES,
            {"azure-tokyo": 12, "gcp-osaka": 12},
            None,
            "gcp-osaka",
            id="same seq: another hazard zone",
        ),
        pytest.param(
            ISR3,
            SIX_SITES,
            {"gcp-osaka": 12, "oci-osaka": 12},
            None,
            "gcp-osaka",
            id="same seq and zone: name",
        ),
        pytest.param(
            ISR3,
            SIX_SITES,
            {"gcp-osaka": 12, "oci-osaka": 12},
            {"gcp-osaka": 4},
            "oci-osaka",
            id="same seq and zone: fewest primaries",
        ),
        pytest.param(
            ISR3,
            (*SIX_SITES[:3], replace(SIX_SITES[3], capacity=2), *SIX_SITES[4:]),
            {"gcp-osaka": 12, "oci-osaka": 12},
            None,
            "oci-osaka",
            id="same seq and zone: larger capacity",
        ),
        pytest.param(
            ISR3,
            (*SIX_SITES[:3], replace(SIX_SITES[3], available=False), *SIX_SITES[4:]),
            {"azure-tokyo": 12, "oci-osaka": 12},
            None,
            "azure-tokyo",
            id="an available site before one being drained",
        ),
        pytest.param(
            replace(ISR3, in_sync=("azure-tokyo",)),
            SIX_SITES,
            {"gcp-osaka": 20, "azure-tokyo": 3},
            None,
            "azure-tokyo",
            id="only in-sync replicas, whatever their seq",
        ),
        pytest.param(
            ISR3,
            SIX_SITES,
            {"aws-tokyo": 30},
            None,
            None,
            id="the lost site itself is no candidate",
        ),
        pytest.param(ISR3, SIX_SITES, {}, None, None, id="nobody sealed"),
        pytest.param(
            replace(ISR3, in_sync=()),
            SIX_SITES,
            {"gcp-osaka": 1},
            None,
            None,
            id="empty in-sync set",
        ),
    ],
)
def test_choose_promotion(
    placement: Placement,
    sites: Sequence[SiteInfo],
    sealed: dict[str, int],
    counts: dict[str, int] | None,
    expected: str | None,
) -> None:
    chosen = choose_promotion(placement, sites, sealed, "aws-tokyo", primaries=counts)
    assert chosen == expected


# --------------------------------------------------------------------------- the zone rule


def test_a_policy_allowing_every_copy_in_one_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="min_zones must be at least 2"):
        PlacementPolicy(min_zones=1)


@pytest.mark.parametrize(
    ("min_insync_zones", "expected"),
    [
        (1, []),
        (2, []),
        (3, ["min_insync_zones=3 cannot be met"]),
        (0, ["min_insync_zones 0 must be at least 1"]),
    ],
)
def test_check_placement_refuses_a_zone_rule_the_copies_cannot_meet(
    min_insync_zones: int, expected: list[str]
) -> None:
    # These copies lie in kanto (two) and kyushu (one): they survive the loss of one
    # zone, never of two, so min_insync_zones=3 would refuse every write.
    two_zones = replace(GOOD, replicas=("azure-tokyo", "aws-fukuoka"), in_sync=())
    problems = check_placement(replace(two_zones, min_insync_zones=min_insync_zones), SIX_SITES)
    assert len(problems) == len(expected), problems
    for problem, words in zip(problems, expected, strict=True):
        assert words in problem and not problem.split(" / ")[0].isascii()


def test_placed_and_repaired_copies_never_leave_a_zone_without_an_outside_copy() -> None:
    # Whatever the policy places, or restores after a site is lost, the primary and a
    # full in-sync set meet the default zone rule: a write can always be acknowledged
    # outside the primary's zones once the replicas are in sync.
    tenants = [code(n) for n in range(1, 121)]
    placed = place_all(tenants, SIX_SITES)
    zones = {s.name: s.hazard_zones for s in SIX_SITES}
    for p in placed:
        assert not zone_rule_gaps(p.primary, p.replicas, zones, p.min_insync_zones), p
    for lost in SIX_SITES:
        sites = [replace(s, available=s is not lost) for s in SIX_SITES]
        state = {p.tenant: p for p in placed}
        for move in rebalance(placed, sites):
            state[move.tenant] = apply_move(state[move.tenant], move)
        for p in state.values():
            assert lost.name not in p.copies
            assert not zone_rule_gaps(p.primary, p.replicas, zones, 2), (lost.name, p)
