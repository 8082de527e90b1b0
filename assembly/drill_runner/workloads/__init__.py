"""What a drill writes (`yui drill run --workload`): the drill probe, or a service's own writes.

- ``probes`` (default): the drill probe's inserts, counter increments and deletes
  (failover.drill.probe_api);
- ``safety-reports``: safety reports in a drill campaign opened for the run, through the
  citizens' one-tap links (read from the campaign's fan-out mail) and open form, and by
  staff (:mod:`.safety_reports`);
- ``supplies-movements``: stock receipts, transfers and issues of a depot and a shelter
  made for the run (:mod:`.supplies_movements`).

A service workload prepares its tenants through the API as staff would (an account with
the staff role, made by the tenant's admin; a campaign or places), gives the load
generator a :class:`~failover.drill.loadgen.Write` per write, reads what each copy holds
of it, and checks it (:mod:`.checks`).
"""

from __future__ import annotations

__all__ = ["PROBES", "WORKLOADS"]

PROBES = "probes"
WORKLOADS = (PROBES, "safety-reports", "supplies-movements")
