"""The safety-reports workload: citizens' reports recorded through every site.

Before the load, for each tenant, the drill's staff account opens a **drill** campaign
(``kind: drill``: kept apart from live data — no live view, search or export counts it —
and purgeable) and reads the first page of its unconfirmed list (needs-assistance
residents first): the people staff call.

The reports are recorded by staff (``POST /api/v1/{tenant}/safety/campaigns/{id}/reports``,
``reporter_kind: staff_call``: a citizen who phones the town hall), each with a
client-generated id. Not the one-tap link: a link is signed for one resident and reaches
them by e-mail from the fan-out, and the link and the open form accept 30 requests a
minute per client address, while every drill write comes from this machine's address.
The staff path runs the same recording (``safety_check.reports.service.store``: the
resend rule, the campaign's time rules, the current status) and the same write path.

Afterwards each copy is read for the reports of the run's campaign
(``safety_check_reports``), with the content the checker compares
(:data:`~assembly.drill_runner.workloads.checks.REPORT_FIELDS`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.workloads.checks import (
    REPORT_FIELDS,
    Record,
    ServiceCopy,
    expected_report,
    instant,
)
from assembly.drill_runner.workloads.setup import StaffClient
from failover.drill.copies import TenantReads
from failover.drill.loadgen import Attempt, Write
from safety_check.reports.models import Report
from yui.tenancy.models import Tenant

__all__ = ["STATUSES", "SafetyReports"]

#: what the reports say, in turn (a phone call's answers)
STATUSES = ("safe", "injured", "needs_help", "at_shelter")
#: residents reported on per tenant (a page of the unconfirmed list)
RESIDENTS = 100
#: phones send their local time (+09:00); the checker compares instants
_JST = timezone(timedelta(hours=9))


class SafetyReports:
    name = "safety-reports"

    def __init__(self, staff: StaffClient, tag: str) -> None:
        self.staff = staff
        self.tag = tag
        self.campaigns: dict[str, str] = {}
        self.opened_at: dict[str, datetime] = {}
        self.residents: dict[str, list[str]] = {}
        self.notes: list[str] = []

    async def prepare(self, tenants: Sequence[str]) -> None:
        for tenant in tenants:
            campaign = await self.staff.request(
                tenant,
                "POST",
                "/safety/campaigns",
                json={"title": f"訓練 / drill {self.tag}", "kind": "drill"},
            )
            self.campaigns[tenant] = campaign["id"]
            self.opened_at[tenant] = datetime.fromisoformat(campaign["opened_at"])
            page = await self.staff.request(
                tenant,
                "GET",
                f"/safety/campaigns/{campaign['id']}/unconfirmed",
                params={"limit": RESIDENTS},
            )
            self.residents[tenant] = [
                entry["resident_id"] for entry in page["needs_assistance"] + page["residents"]
            ]
            if not self.residents[tenant]:
                raise CannotRun(
                    f"{tenant} の住民がいません（報告の対象がない） / {tenant} has no residents "
                    "to report on"
                )
        self.notes.append(
            "reports recorded by staff (staff_call) in drill campaigns "
            + ", ".join(f"{t}: {c}" for t, c in sorted(self.campaigns.items()))
            + f" (account {self.staff.username}); purge them with "
            "DELETE /api/v1/{tenant}/safety/campaigns/{id}"
        )

    def write(self, tenant: str, write_id: uuid.UUID, n: int) -> Write:
        residents = self.residents[tenant]
        status = STATUSES[n % len(STATUSES)]
        # the phone's clock, to the second, never before the campaign opened
        reported = max(datetime.now(UTC), self.opened_at[tenant])
        if reported.microsecond:
            reported = reported.replace(microsecond=0) + timedelta(seconds=1)
        return Write(
            path=f"/api/v1/{tenant}/safety/campaigns/{self.campaigns[tenant]}/reports",
            body={
                "id": str(write_id),
                "resident_id": residents[n % len(residents)],
                "status": status,
                "reported_at": reported.astimezone(_JST).isoformat(),
                "reporter_kind": "staff_call",
                "location": "",
                "shelter": "訓練避難所 / drill shelter" if status == "at_shelter" else "",
                "note": f"訓練 / drill {self.tag} #{n}",
            },
            kind="report",
        )

    async def auth(self, tenant: str) -> Mapping[str, str]:
        return await self.staff.tokens.headers(tenant)

    def expected(self, attempt: Attempt) -> Mapping[str, Any] | None:
        return expected_report(attempt)

    def read(self, db: TenantReads, tenants: Sequence[str]) -> Mapping[str, ServiceCopy]:
        found: dict[str, ServiceCopy] = {}
        for tenant in tenants:
            with db.unit_of_work(tenant, read_only=True) as uow:
                if uow.session.get(Tenant, tenant) is None or tenant not in self.campaigns:
                    continue
                rows = uow.session.execute(
                    select(Report).where(Report.campaign_id == self.campaigns[tenant])
                ).scalars()
                found[tenant] = ServiceCopy(
                    records=[
                        Record(
                            id=row.id,
                            content=_content(row),
                            recorded_at=row.received_at.isoformat(),
                        )
                        for row in rows
                    ]
                )
        return found


def _content(row: Report) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in REPORT_FIELDS}
    values["reported_at"] = instant(row.reported_at.isoformat())
    values["status"] = str(row.status)
    values["reporter_kind"] = str(row.reporter_kind)
    return values
