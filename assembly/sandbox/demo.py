"""Demo municipalities for the sandbox: placed by the policy, each with an admin whose
random password is written to a 0600 file (there is no default password)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass

from assembly.sandbox.plan import DEMO_TENANTS, SandboxPlan
from failover.coordination import connect_etcd
from failover.coordination.interface import PlacementConflict
from failover.placement.policy import Placement, SiteInfo, place_all
from residents.demo.service import generate
from yui.auth import service as auth
from yui.db.database import Database
from yui.tenancy.service import create_tenant
from yui.tls import OPERATOR


@dataclass(frozen=True)
class DemoTenant:
    code: str
    name: str
    placement: Placement
    admin_password: str


def site_infos(plan: SandboxPlan) -> list[SiteInfo]:
    return [
        SiteInfo(
            name=s.name,
            provider=s.provider,
            region=s.region,
            hazard_zones=frozenset(s.hazard_zones),
            capacity=s.capacity,
        )
        for s in plan.sites
    ]


async def publish_placements(plan: SandboxPlan, placements: list[Placement]) -> None:
    """Write the demo placements to etcd (only where absent): the sites route by them."""
    tls = plan.tls_files(OPERATOR) if plan.tls else None
    async with connect_etcd(plan.etcd_endpoints.split(","), tls=tls) as coordination:
        for placement in placements:
            with contextlib.suppress(PlacementConflict):
                await coordination.put_placement_if(placement.tenant, placement, 0)


def seed(plan: SandboxPlan, residents: int = 500) -> list[DemoTenant]:
    placements = place_all([code for code, _ in DEMO_TENANTS], site_infos(plan))
    names = dict(DEMO_TENANTS)
    made = []
    for placement in placements:
        db = Database(plan.database_url(placement.primary))
        try:
            create_tenant(db, placement.tenant, names[placement.tenant])
            password = secrets.token_urlsafe(12)
            with db.unit_of_work(placement.tenant) as uow:
                auth.create_user(
                    uow.session,
                    username="admin",
                    password=password,
                    roles=["admin"],
                    display_name="サンドボックス管理者",
                    actor="sandbox",
                )
                uow.commit()
            generate(db, placement.tenant, residents, seed=int(placement.tenant), actor="sandbox")
        finally:
            db.dispose()
        made.append(DemoTenant(placement.tenant, names[placement.tenant], placement, password))
    asyncio.run(publish_placements(plan, placements))
    credentials = plan.root / "credentials.txt"
    credentials.touch(mode=0o600)
    credentials.write_text(
        "".join(
            f"{t.code} {t.name} admin {t.admin_password} (primary {t.placement.primary})\n"
            for t in made
        )
    )
    return made
