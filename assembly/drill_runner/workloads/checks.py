"""The checks of a service workload (safety reports, stock movements). Pure, like
failover.drill.checker, whose verdict (:class:`~failover.drill.checker.CheckResult`) they
extend rather than copy.

A copy of a tenant (:class:`ServiceCopy`) holds the records this drill wrote — the
reports of its drill campaign, the movements with its reference — each with the content
the service stored, and, for stock, every balance with its ledger sum. :func:`check_service`
runs the drill's checker over the records by client id (lost, replica gaps, duplicates,
split brain, digests, unconverged copies: the same rules as for the drill probe), then
:func:`add_service_findings` adds what only the service's content can show:

- an acknowledged id the authority holds with other content than the client sent →
  ``duplicate`` (the id was applied for another write: an id applied twice with different
  content); for a safety report the content includes how it reached the service (staff,
  one-tap link: for the link's resident) and, for an open-form submission, where the
  design puts it (pending in the review queue, matched to the one resident it describes);
- a stock balance below zero, or unequal to the ledger's sum for its place and lot →
  ``invariant`` (stock never negative; every movement balances).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from failover.drill.checker import (
    CheckResult,
    CopyDigest,
    CopyRow,
    Finding,
    PlacementSeen,
    check,
)
from failover.drill.loadgen import Attempt

__all__ = [
    "FORM_FIELDS",
    "PERSON_FIELDS",
    "REPORT_FIELDS",
    "REPORT_KINDS",
    "Balance",
    "Expected",
    "Record",
    "ServiceCopy",
    "add_service_findings",
    "check_service",
    "copy_rows",
    "expected_movement",
    "expected_report",
    "expected_submission",
    "instant",
    "movement_lines",
    "quantity_text",
    "resend_difference",
    "resend_sample",
]

#: what a safety report is (safety_check.reports.service.CONTENT, less its campaign: the
#: copy reader reads the drill's campaign only)
REPORT_FIELDS = (
    "resident_id",
    "status",
    "reported_at",
    "reporter_kind",
    "location",
    "shelter",
    "note",
    "source",
)
#: how a safety report reaches the service (the attempt's op) → the source it is stored
#: with (safety_check.reports.models.ReportSource); "open_form" is a submission, not yet a
#: report
REPORT_KINDS = {"report": "staff", "one_tap": "one_tap", "open_form": "open_form"}
#: what an open-form submission is (safety_check.reports.form.CONTENT)
FORM_FIELDS = (
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "birth_date",
    "town_name",
    "status",
    "reported_at",
    "reporter_kind",
    "reporter_name",
    "reporter_contact",
    "location",
    "shelter",
    "note",
)
#: what of the person a submission describes its best candidate must be (the match)
PERSON_FIELDS = FORM_FIELDS[:6]


@dataclass(frozen=True)
class Record:
    """One write as a copy holds it: its client id, the content the service stored (in
    the terms :data:`Expected` gives), and when that copy says it was recorded (a write
    applied at two primaries shows two times)."""

    id: str
    content: Mapping[str, Any]
    recorded_at: str | None = None


@dataclass(frozen=True)
class Balance:
    """One stock balance (a lot at a place): what the service keeps, and the ledger's sum."""

    place: str
    lot: str
    kept: Decimal
    ledger: Decimal


@dataclass(frozen=True)
class ServiceCopy:
    records: Sequence[Record] = ()
    #: every stock balance of the tenant (None: the workload has no stock)
    balances: Sequence[Balance] | None = None


#: the content a write's body asks the service to store, in a copy's terms
#: (:attr:`Record.content`); None when the attempt carries no body
Expected = Callable[[Attempt], Mapping[str, Any] | None]


def instant(text: str) -> str:
    """A time as one canonical text (UTC, microseconds): +09:00 and its UTC form are one."""
    return datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="microseconds")


def quantity_text(value: Any) -> str:
    """A quantity as one canonical text: 3, 3.000 and "3" are one."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format(number.normalize(), "f")


def expected_report(
    attempt: Attempt, link_residents: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """A safety report's content as the client sent it, by how it was sent (the
    attempt's op): staff's (``report``) as the body says; through a one-tap link
    (``one_tap``) for the link's resident (``link_residents``: write id → the resident the
    link was sent to), reported by the resident themselves; through the open form
    (``open_form``) a submission (:func:`expected_submission`)."""
    body = attempt.body
    if body is None:
        return None
    if attempt.op == "open_form":
        return expected_submission(body)
    content = {
        name: instant(str(body[name])) if name == "reported_at" else body.get(name, "")
        for name in REPORT_FIELDS
    }
    if attempt.op == "one_tap":
        content["resident_id"] = (link_residents or {}).get(attempt.id, "")
        content["reporter_kind"] = "resident"
    content["source"] = REPORT_KINDS.get(attempt.op, "staff")
    return content


def expected_submission(body: Mapping[str, Any]) -> dict[str, Any]:
    """An open-form submission as the sender sent it, where the design puts it: pending
    in the review queue (no report until staff confirm), matched ``exact`` to one
    resident, its best candidate the person the form describes."""
    content = {
        name: instant(str(body[name])) if name == "reported_at" else body.get(name) or ""
        for name in FORM_FIELDS
    }
    content.update(
        review="pending",
        match="exact",
        candidate={name: body.get(name) or "" for name in PERSON_FIELDS},
    )
    return content


def resend_sample(attempts: Iterable[Attempt], first: int = 2) -> list[Attempt]:
    """The writes the drill sends again: of each tenant and op, the ``first`` acknowledged
    writes whose answer was logged (made before a fault: the resend reaches the copy the
    failover promoted) and the last one, in the order they were made."""
    chosen: dict[tuple[str, str], dict[str, Attempt]] = defaultdict(dict)
    for attempt in sorted(attempts, key=lambda a: (a.n, a.attempt)):
        if attempt.acknowledged and attempt.answer is not None:
            chosen[(attempt.tenant, attempt.op)].setdefault(attempt.id, attempt)
    sample = []
    for _, picked in sorted(chosen.items()):
        made = list(picked.values())
        sample += made[:first] + made[first:][-1:]
    return sample


def resend_difference(
    first: Attempt, status: int | None, answer: Mapping[str, Any] | None
) -> str | None:
    """Why a resend of an acknowledged write did not answer its first result (None: it
    did): 200 (already recorded) with the same answer as the acknowledgement."""
    if status != 200:
        return f"HTTP {status}, not 200 (already recorded)"
    if first.answer is None or answer is None:
        return "no answer to compare"
    if dict(answer) != dict(first.answer):
        return _difference(first.answer, answer, ("first", "again"))
    return None


def movement_lines(lines: Iterable[tuple[str, str, Any]]) -> list[tuple[str, str, str]]:
    """(place, item, signed quantity) lines summed per place and item, sorted: a movement's
    effect whatever lots picking chose."""
    totals: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for place, item, quantity in lines:
        totals[(place, item)] += Decimal(str(quantity))
    return [
        (place, item, quantity_text(total))
        for (place, item), total in sorted(totals.items())
        if total != 0
    ]


def expected_movement(attempt: Attempt) -> dict[str, Any] | None:
    """A stock movement's effect as the client asked for it: a receipt adds at its place,
    an issue removes, a transfer removes at one place what it adds at the other."""
    body = attempt.body
    if body is None:
        return None
    lines: list[tuple[str, str, Any]] = []
    for line in body.get("lines", ()):
        quantity = Decimal(str(line["quantity"]))
        if attempt.op == "receipt":
            lines.append((body["place"], line["item"], quantity))
        elif attempt.op == "issue":
            lines.append((body["place"], line["item"], -quantity))
        elif attempt.op == "transfer":
            lines.append((body["from_place"], line["item"], -quantity))
            lines.append((body["to_place"], line["item"], quantity))
    return {"kind": attempt.op, "lines": movement_lines(lines)}


def copy_rows(
    copies: Mapping[str, Mapping[str, ServiceCopy]],
) -> dict[str, dict[str, list[CopyRow]]]:
    """The records as the drill's checker reads rows: by client id, with when each copy
    says it was recorded as the row's origin."""
    return {
        site: {
            tenant: [CopyRow(tenant, r.id, written_at=r.recorded_at) for r in copy.records]
            for tenant, copy in tenants.items()
        }
        for site, tenants in copies.items()
    }


def check_service(
    attempts: Iterable[Attempt],
    copies: Mapping[str, Mapping[str, ServiceCopy]],
    *,
    expected: Expected,
    primaries: Mapping[str, str],
    members: Mapping[str, Iterable[str]] | None = None,
    digests: Iterable[CopyDigest] = (),
    placements: Iterable[PlacementSeen] = (),
    quarantined: Mapping[str, int] | None = None,
) -> CheckResult:
    """The drill's checker over a service workload's records, with the service's findings."""
    log = list(attempts)
    result = check(
        log,
        copy_rows(copies),
        primaries=primaries,
        digests=digests,
        quarantined=quarantined,
        placements=placements,
        members=members,
    )
    add_service_findings(result, log, copies, primaries=primaries, expected=expected)
    return result


def add_service_findings(
    result: CheckResult,
    attempts: Iterable[Attempt],
    copies: Mapping[str, Mapping[str, ServiceCopy]],
    *,
    primaries: Mapping[str, str],
    expected: Expected,
) -> None:
    """Content and stock findings at each tenant's authority (its primary after the drill;
    a tenant whose primary was not read already fails the check)."""
    acked: dict[tuple[str, str], Attempt] = {}
    for attempt in attempts:
        if attempt.acknowledged:
            acked.setdefault((attempt.tenant, attempt.id), attempt)
    for tenant, primary in sorted(primaries.items()):
        copy = copies.get(primary, {}).get(tenant)
        if copy is None:
            continue
        held: dict[str, list[Record]] = defaultdict(list)
        for record in copy.records:
            held[record.id].append(record)
        for (ack_tenant, write_id), ack in sorted(acked.items()):
            want = expected(ack) if ack_tenant == tenant else None
            if want is None:
                continue
            for record in held.get(write_id, ()):
                if dict(record.content) != dict(want):
                    result.duplicates.append(
                        Finding(
                            "duplicate",
                            tenant,
                            f"{ack.op} acknowledged by {ack.served_by or ack.site}, held at the "
                            f"primary {primary} with other content: "
                            f"{_difference(want, record.content)}",
                            id=write_id,
                            sites=(primary,),
                        )
                    )
        _stock(result, tenant, primary, copy.balances or ())


def _stock(result: CheckResult, tenant: str, primary: str, balances: Sequence[Balance]) -> None:
    for balance in balances:
        where = f"lot {balance.lot} at place {balance.place} ({primary})"
        if balance.kept < 0 or balance.ledger < 0:
            result.invariant_violations.append(
                Finding(
                    "invariant",
                    tenant,
                    f"stock below zero: {where} keeps {balance.kept}, ledger {balance.ledger}",
                    sites=(primary,),
                )
            )
        if balance.kept != balance.ledger:
            result.invariant_violations.append(
                Finding(
                    "invariant",
                    tenant,
                    f"balance unequal to the ledger: {where} keeps {balance.kept}, its "
                    f"movements sum to {balance.ledger}",
                    sites=(primary,),
                )
            )


def _difference(
    want: Mapping[str, Any], held: Mapping[str, Any], labels: tuple[str, str] = ("sent", "held")
) -> str:
    names = sorted(set(want) | set(held))
    return "; ".join(
        f"{name} {labels[0]} {want.get(name)!r}, {labels[1]} {held.get(name)!r}"
        for name in names
        if want.get(name) != held.get(name)
    )[:400]
