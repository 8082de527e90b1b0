"""The safety-reports workload: citizens' reports through every site, and staff's calls.

Before the load, for each tenant, the drill's staff account opens a **drill** campaign
(``kind: drill``: kept apart from live data — no live view, search or export counts it —
and purgeable), reads the first page of its unconfirmed list (needs-assistance residents
first) and starts the campaign's fan-out (``POST …/safety/campaigns/{id}/outreach``), as
staff would after a quake. The fan-out's job sends each resident with an e-mail address
their personal signed one-tap link; the sandbox's sites send to their local SMTP sinks,
and the drill reads the links there (:attr:`DrillEnvironment.mailboxes`), as the residents
read them in their mail: the links are the municipality's own, signed by the site, never
made by the drill. Which resident a message went to is read from its ``Idempotency-Key``
(the fan-out's step and the resident); it is what the check expects the report to be for.
The citizen's page is opened once per tenant (``GET …/safety/links/{token}``) before the load.

The load's reports, each with a client-generated id, come in three kinds in turn:

- ``one_tap`` — a resident taps their link (``POST /api/v1/{tenant}/safety/links/{token}/
  reports``, no sign-in: the signature is the credential): verified for that resident,
  stored with ``source: one_tap`` and ``reporter_kind: resident``;
- ``open_form`` — a family member fills in the open mobile form (``POST …/safety/campaigns/
  {id}/form``, no sign-in) with a resident's full name, kana, birth date and 町字:
  unverified, kept as a submission pending in the staff's review queue (202), matched
  ``exact`` to that resident; it becomes a report only when staff confirm it, which the
  drill does not do;
- ``report`` — staff record a citizen's phone call (``POST …/safety/campaigns/{id}/reports``
  signed in, ``reporter_kind: staff_call``).

The public paths allow ``YUI_SAFETY_LINK_REQUESTS_PER_MINUTE`` requests a minute per
client address (30 by default), and every drill request comes from this machine's one
address: the sandbox raises the budget for its sites
(:data:`assembly.sandbox.plan.SAFETY_LINK_REQUESTS_PER_MINUTE`), a drill-sandbox setting,
rather than the drill pacing its citizens under 30 a minute (a 20 s drill would then send
about ten citizens' reports per primary: too few to see a failover's window). A 429 is
retried at the next site like a 503, so it never counts as a loss.

After the load, the first two acknowledged writes of each kind and tenant are sent again
(same id, same body, through the sites in turn): each must answer 200 with the answer its
first acknowledgement got (the report's expectations, one per kind). Then each copy is
read for the run's campaign: its reports (``safety_check_reports``) and its submissions
(``safety_check_submissions``), with the content the checker compares
(:func:`~assembly.drill_runner.workloads.checks.expected_report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.workloads.checks import (
    FORM_FIELDS,
    PERSON_FIELDS,
    REPORT_FIELDS,
    REPORT_KINDS,
    Record,
    ServiceCopy,
    expected_report,
    instant,
    resend_difference,
    resend_sample,
)
from assembly.drill_runner.workloads.setup import StaffClient
from failover.drill.copies import TenantReads
from failover.drill.loadgen import Attempt, Write
from failover.drill.report import Expectation
from safety_check.channels.base import KEY_HEADER, TENANT_HEADER
from safety_check.channels.sink import header_values
from safety_check.links.signing import TOKEN_CHARS
from safety_check.reports.models import Report, Submission
from yui.tenancy.models import Tenant

__all__ = ["KINDS", "STATUSES", "SafetyReports", "scan_mail"]

#: what the reports say, in turn
STATUSES = ("safe", "injured", "needs_help", "at_shelter")
#: how the reports reach the service, in turn (the attempts' op)
KINDS = tuple(REPORT_KINDS)
#: residents reported on per tenant (a page of the unconfirmed list)
RESIDENTS = 100
#: the one-tap links the drill uses per tenant, at most (the fan-out's first messages)
LINKS = 50
#: how long the fan-out may take to deliver them
FANOUT_SECONDS = 90.0
#: phones send their local time (+09:00); the checker compares instants
_JST = timezone(timedelta(hours=9))
_TOKEN = re.compile(rf"/r/([A-Za-z0-9_-]{{{TOKEN_CHARS}}})(?![A-Za-z0-9_-])")


class SafetyReports:
    name = "safety-reports"

    def __init__(self, staff: StaffClient, tag: str) -> None:
        self.staff = staff
        self.tag = tag
        self.campaigns: dict[str, str] = {}
        self.opened_at: dict[str, datetime] = {}
        self.residents: dict[str, list[str]] = {}
        #: the residents the open form describes (the unconfirmed list's entries)
        self.people: dict[str, list[dict[str, Any]]] = {}
        #: (resident, token) of each link read from the fan-out's messages
        self.links: dict[str, list[tuple[str, str]]] = {}
        #: write id → the resident of the link it went through (what the check expects)
        self.link_residents: dict[str, str] = {}
        #: write id → (path, sent signed in), for the resends
        self.sent: dict[str, tuple[str, bool]] = {}
        self.notes: list[str] = []

    async def prepare(self, tenants: Sequence[str]) -> None:
        if not self.staff.env.mailboxes:
            raise CannotRun(
                "住民へのメールを読めません（サンドボックスの SMTP シンクがない） / the drill cannot "
                "read the residents' mail (no SMTP sink folders): the one-tap links come by e-mail"
            )
        jobs: dict[str, tuple[str, int]] = {}
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
            entries = page["needs_assistance"] + page["residents"]
            self.residents[tenant] = [entry["resident_id"] for entry in entries]
            self.people[tenant] = entries
            if not entries:
                raise CannotRun(
                    f"{tenant} の住民がいません（報告の対象がない） / {tenant} has no residents "
                    "to report on"
                )
            outreach = await self.staff.request(
                tenant, "POST", f"/safety/campaigns/{campaign['id']}/outreach", expect=(202,)
            )
            if not outreach["messages"]:
                raise CannotRun(
                    f"{tenant} にはメールの届く住民がいません / no resident of {tenant} has an "
                    "e-mail address: no one-tap link is sent"
                )
            jobs[tenant] = (outreach["job_id"], outreach["messages"])
        self.links = await self._read_links(jobs)
        for tenant, links in self.links.items():  # the citizen's page, before the tap
            response, last = await self.staff.answer(
                "GET", f"/api/v1/{tenant}/safety/links/{links[0][1]}", headers={}
            )
            if response is None or response.status_code != 200:
                raise CannotRun(
                    f"リンクが開けません / {tenant}'s one-tap link does not open: {last}"
                )
            if response.json().get("campaign_id") != self.campaigns[tenant]:
                raise CannotRun(f"{tenant}'s link is for another campaign: {last}")
        self.notes.append(
            "reports through one-tap links (read from the fan-out's mail), the open form and "
            "staff calls, in drill campaigns "
            + ", ".join(
                f"{t}: {c} ({len(self.links[t])} links)" for t, c in sorted(self.campaigns.items())
            )
            + f" (account {self.staff.username}); purge them with "
            "DELETE /api/v1/{tenant}/safety/campaigns/{id}"
        )

    async def _read_links(self, jobs: Mapping[str, tuple[str, int]]) -> dict[str, list[Any]]:
        """The links the fan-outs of ``jobs`` (tenant → job, messages) delivered, up to
        :data:`LINKS` per tenant, as they arrive in the mail folders."""
        found: dict[str, dict[str, str]] = {tenant: {} for tenant in jobs}
        tenant_of = {job: tenant for tenant, (job, _) in jobs.items()}
        seen: set[Path] = set()
        deadline = time.monotonic() + FANOUT_SECONDS
        while True:
            await asyncio.to_thread(scan_mail, self.staff.env.mailboxes, tenant_of, found, seen)
            if all(len(found[t]) >= min(count, LINKS) for t, (_, count) in jobs.items()):
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        missing = sorted(t for t, links in found.items() if not links)
        if missing:
            raise CannotRun(
                f"一斉送信のメールが {FANOUT_SECONDS:g} 秒で届きません / the fan-out delivered no "
                f"link within {FANOUT_SECONDS:g} s for {', '.join(missing)} (is the sites' "
                "worker running?)"
            )
        return {t: sorted(links.items())[:LINKS] for t, links in found.items()}

    def write(self, tenant: str, write_id: uuid.UUID, n: int) -> Write:
        turn = n // len(self.campaigns)  # this tenant's write number
        # the kinds in runs of three: the load starts write n at site n mod the sites, so
        # a kind taking every third turn would start at one site only
        kind = KINDS[turn // len(KINDS) % len(KINDS)]
        status = STATUSES[turn % len(STATUSES)]
        # the phone's clock, to the second, never before the campaign opened
        reported = max(datetime.now(UTC), self.opened_at[tenant])
        if reported.microsecond:
            reported = reported.replace(microsecond=0) + timedelta(seconds=1)
        said = {
            "id": str(write_id),
            "status": status,
            "reported_at": reported.astimezone(_JST).isoformat(),
            "location": "",
            "shelter": "訓練避難所 / drill shelter" if status == "at_shelter" else "",
            "note": f"訓練 / drill {self.tag} #{n}",
        }
        campaign = self.campaigns[tenant]
        if kind == "one_tap":
            resident, token = self.links[tenant][turn % len(self.links[tenant])]
            self.link_residents[str(write_id)] = resident
            write = Write(
                f"/api/v1/{tenant}/safety/links/{token}/reports", said, kind, signed=False
            )
        elif kind == "open_form":
            people = self.people[tenant]
            person = people[turn % len(people)]
            body = {
                **{name: person[name] for name in PERSON_FIELDS},
                **said,
                "reporter_kind": "family",
                "reporter_name": "訓練の家族 / drill family",
                "reporter_contact": "",
            }
            write = Write(
                f"/api/v1/{tenant}/safety/campaigns/{campaign}/form", body, kind, signed=False
            )
        else:
            residents = self.residents[tenant]
            body = {
                **said,
                "resident_id": residents[turn % len(residents)],
                "reporter_kind": "staff_call",
            }
            write = Write(f"/api/v1/{tenant}/safety/campaigns/{campaign}/reports", body, kind)
        self.sent[str(write_id)] = (write.path, write.signed)
        return write

    async def auth(self, tenant: str) -> Mapping[str, str]:
        return await self.staff.tokens.headers(tenant)

    def expected(self, attempt: Attempt) -> Mapping[str, Any] | None:
        return expected_report(attempt, self.link_residents)

    async def resend(self, attempts: Sequence[Attempt]) -> list[Expectation]:
        checked: dict[str, int] = defaultdict(int)
        failures: dict[str, list[str]] = defaultdict(list)
        for number, first in enumerate(resend_sample(attempts)):
            if first.id not in self.sent:
                continue
            path, signed = self.sent[first.id]
            response, last = await self.staff.answer(
                "POST",
                path,
                headers=await self.auth(first.tenant) if signed else {},
                json=first.body,
                first=number,
                rounds=5,
            )
            answer = None
            if response is not None:
                with contextlib.suppress(ValueError):
                    answer = response.json()
            why = resend_difference(
                first,
                response.status_code if response is not None else None,
                answer if isinstance(answer, dict) else None,
            )
            checked[first.op] += 1
            if why:
                failures[first.op].append(f"{first.tenant} {first.id}: {why} ({last[:120]})")
        acked: dict[tuple[str, str], set[str]] = defaultdict(set)
        for attempt in attempts:
            if attempt.acknowledged:
                acked[(attempt.tenant, attempt.op)].add(attempt.id)
        expectations = []
        for kind in KINDS:
            name = f"再送は最初の結果 / a resent id answers the first result ({kind})"
            without = sorted(t for t in self.campaigns if not acked[(t, kind)])
            if without:
                expectations.append(
                    Expectation(
                        name,
                        False,
                        f"no {kind} report acknowledged for {', '.join(without)}: this kind "
                        "was not checked there",
                    )
                )
            elif failures[kind]:
                expectations.append(Expectation(name, False, "; ".join(failures[kind])[:800]))
            else:
                expectations.append(
                    Expectation(
                        name,
                        True,
                        f"{sum(len(acked[(t, kind)]) for t in self.campaigns)} acknowledged; "
                        f"{checked[kind]} of them sent again (same id and body): each answered "
                        "200 with its first answer",
                    )
                )
        return expectations

    def read(self, db: TenantReads, tenants: Sequence[str]) -> Mapping[str, ServiceCopy]:
        found: dict[str, ServiceCopy] = {}
        for tenant in tenants:
            with db.unit_of_work(tenant, read_only=True) as uow:
                if uow.session.get(Tenant, tenant) is None or tenant not in self.campaigns:
                    continue
                campaign = self.campaigns[tenant]
                reports = uow.session.execute(
                    select(Report).where(Report.campaign_id == campaign)
                ).scalars()
                submissions = uow.session.execute(
                    select(Submission).where(Submission.campaign_id == campaign)
                ).scalars()
                found[tenant] = ServiceCopy(
                    records=[
                        *(
                            Record(row.id, _content(row), row.received_at.isoformat())
                            for row in reports
                        ),
                        *(
                            Record(row.id, _submission(row), row.received_at.isoformat())
                            for row in submissions
                        ),
                    ]
                )
        return found


def scan_mail(
    folders: Sequence[Path],
    tenant_of: Mapping[str, str],
    found: dict[str, dict[str, str]],
    seen: set[Path],
) -> None:
    """Add the links of the messages of the fan-out jobs ``tenant_of`` (job → tenant) in
    ``folders`` to ``found`` (tenant → resident → token). A message is read once; one
    still being written (no key yet, or no link) is read again at the next scan."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.glob("*.eml"):
            if path in seen:
                continue
            content = path.read_bytes()
            headers = header_values(content, (KEY_HEADER, TENANT_HEADER))
            key = headers.get(KEY_HEADER, "")
            if not key:
                continue
            # the key is the fan-out step's effect key (job:step) and the resident
            job, _, resident = key.rpartition(":")
            tenant = tenant_of.get(job.split(":")[0])
            if tenant is None or headers.get(TENANT_HEADER) != tenant:
                seen.add(path)
                continue
            message = email.message_from_bytes(content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(("plain",))
            link = _TOKEN.search(body.get_content() if body is not None else "")
            if link is not None:
                found[tenant][resident] = link.group(1)
                seen.add(path)


def _content(row: Report) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in REPORT_FIELDS}
    values["reported_at"] = instant(row.reported_at.isoformat())
    values["status"] = str(row.status)
    values["reporter_kind"] = str(row.reporter_kind)
    values["source"] = str(row.source)
    return values


def _submission(row: Submission) -> dict[str, Any]:
    """An open-form submission as stored, with where it landed: its review state, the
    match and its best candidate (the person's facts as the registry has them)."""
    values = {name: getattr(row, name) for name in FORM_FIELDS}
    values["birth_date"] = row.birth_date.isoformat() if row.birth_date else ""
    values["reported_at"] = instant(row.reported_at.isoformat())
    values["status"] = str(row.status)
    values["reporter_kind"] = str(row.reporter_kind)
    best = row.candidates[0] if row.candidates else None
    values.update(
        review=str(row.review),
        match=row.match,
        candidate={name: best.get(name, "") for name in PERSON_FIELDS} if best else None,
    )
    return values
