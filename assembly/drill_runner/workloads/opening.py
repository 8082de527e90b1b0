"""Opening a service workload by name: a staff account per tenant, then the workload's own
preparation (kept apart from `setup`, which the workloads import)."""

from __future__ import annotations

from collections.abc import Sequence

from assembly.drill_runner.environment import CannotRun, ServiceWorkload
from assembly.drill_runner.workloads import PROBES, WORKLOADS
from assembly.drill_runner.workloads.safety_reports import SafetyReports
from assembly.drill_runner.workloads.setup import Reachable, StaffClient
from assembly.drill_runner.workloads.supplies_movements import SuppliesMovements

__all__ = ["open_workload"]


async def open_workload(
    name: str, env: Reachable, tenants: Sequence[str], tag: str
) -> ServiceWorkload:
    """The service workload ``name``, prepared for ``tenants`` (the drill probe needs none)."""
    if name not in WORKLOADS or name == PROBES:
        raise CannotRun(
            f"負荷の種類 {name!r} はサービスのものではありません / {name!r} is not a service "
            f"workload (one of: {', '.join(w for w in WORKLOADS if w != PROBES)})"
        )
    staff = StaffClient(env, tag)
    await staff.sign_in_staff(tenants)
    workload: ServiceWorkload
    if name == "safety-reports":
        workload = SafetyReports(staff, tag)
    elif name == "supplies-movements":
        workload = SuppliesMovements(staff, tag)
    else:
        raise CannotRun(
            f"負荷の種類 {name!r} はありません / unknown workload {name!r} "
            f"(one of: {', '.join(WORKLOADS)})"
        )
    await workload.prepare(tenants)
    return workload
