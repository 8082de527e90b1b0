"""`plan_restoration`: where a tenant whose site was lost gets its missing copy (pure)."""

from __future__ import annotations

from dataclasses import replace

from failover.placement.policy import Placement, SiteInfo, place_all, plan_restoration
from tests.failover.placement.test_policy import SIX_SITES, site

TENANT = "041009"
P = Placement(TENANT, "aws-tokyo", ("gcp-osaka", "sakura-ishikari"), ("gcp-osaka",))


def _lose(*names: str) -> list[SiteInfo]:
    return [replace(s, available=s.name not in names) for s in SIX_SITES]


def test_a_full_placement_needs_nothing() -> None:
    plan = plan_restoration(P, SIX_SITES)
    assert not plan.under_replicated and plan.target is None and plan.reason == ""
    assert plan.catching_up == ("sakura-ishikari",) and plan.summary().startswith("3/3 追いつき中")


def test_a_lost_member_is_replaced_by_the_least_loaded_diverse_site() -> None:
    others = place_all(["011002", "131016", "271004", "401307"], SIX_SITES)
    plan = plan_restoration(P, _lose("sakura-ishikari"), [P, *others])
    assert plan.under_replicated and plan.lost == ("sakura-ishikari",)
    assert plan.live == ("aws-tokyo", "gcp-osaka")
    assert plan.target is not None and plan.target not in P.copies
    assert "restoring at" in plan.summary()


def test_a_suspect_site_takes_no_copy() -> None:
    sites = [*_lose("sakura-ishikari")[:3]]  # aws-tokyo, azure-tokyo, gcp-osaka
    sites.append(site("oci-fukuoka", "oci", "kyushu"))
    assert plan_restoration(P, sites).target in ("azure-tokyo", "oci-fukuoka")
    plan = plan_restoration(P, sites, suspect={"azure-tokyo", "oci-fukuoka"})
    assert plan.target is None and "no available site is without a copy" in plan.reason


def test_a_site_that_breaks_the_spread_is_not_chosen() -> None:
    # The site left without a copy is at aws in kanto, like the primary: fine while a copy
    # stays in kansai (two zones, two providers); with every site in kanto it is refused.
    placement = Placement(TENANT, "aws-tokyo", ("azure-tokyo", "gcp-osaka"), ("gcp-osaka",))
    sites = [
        site("aws-tokyo", "aws", "kanto"),
        site("azure-tokyo", "azure", "kanto", available=False),
        site("gcp-osaka", "gcp", "kansai"),
        site("aws-yokohama", "aws", "kanto"),
    ]
    plan = plan_restoration(placement, sites)
    assert plan.target == "aws-yokohama"  # kanto + kansai: two zones, two providers
    only_kanto = [*sites[:2], site("gcp-tokyo", "gcp", "kanto"), site("aws-chiba", "aws", "kanto")]
    lone = Placement(TENANT, "aws-tokyo", ("azure-tokyo", "gcp-tokyo"), ())
    plan = plan_restoration(lone, only_kanto)
    assert plan.target is None and "2 hazard zones" in plan.reason


def test_nothing_is_added_while_the_primary_is_lost() -> None:
    plan = plan_restoration(P, _lose("aws-tokyo"))
    assert plan.target is None and "waiting for a promotion" in plan.reason
