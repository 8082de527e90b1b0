"""The drill's checker: what was acknowledged against what every surviving copy holds. Pure.

Definitions (docs/drills.md states them for operators). The **authority** of a tenant is
its primary after the drill; a run whose authority could not be read fails (nothing can be
said about what was lost).

- **lost acknowledged write** — a probe some site acknowledged (HTTP 200/201) that the
  authority does not hold (unless a delete of it was sent); or a probe whose first delete
  attempt was answered "already absent" by the primary (it was gone before the delete).
- **lost update** — an acknowledged increment whose id the authority's counter does not
  record, or records with another value than the one answered; two increments of one
  counter answered (or recorded) with one value; a counter whose value is not the number
  of increments it records.
- **resurrected delete** — a probe whose delete was acknowledged, held by the authority.
- **duplicate write** — one id applied more than once: two rows with one id in one copy;
  copies that disagree on the row's origin (site, epoch, time: written twice, at two
  primaries); or two "created" answers (201, or 202 for a submission kept for review) for one id.
- **split-brain violation** — (a) a write applied and acknowledged (201/204) in epoch E by
  site S, sent after the runner had seen a placement of a newer epoch naming another
  primary (see :func:`_deposed_acks` for why this is sound); (b) two sites acknowledged
  writes of one tenant in one epoch; (c) rows of one tenant and epoch written by two sites.
- **digest mismatch** — two copies of a tenant at the same seq with different digests.
- **unconverged copy** — a copy of the final placement that, after the runner waited for
  convergence, is at another seq than the others or lacks an acknowledged write the
  authority holds: it was never shown equal, so the run fails.
- **invariant violation** — a rule of a service's own data broken at the authority after
  the drill (a service workload's checks add them: e.g. a stock balance below zero or
  unequal to its ledger).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from failover.drill.loadgen import Attempt

__all__ = [
    "CheckResult",
    "CopyDigest",
    "CopyRow",
    "CounterCopy",
    "Finding",
    "IncrementRow",
    "PlacementSeen",
    "check",
]

FindingKind = Literal[
    "lost",
    "lost-update",
    "resurrected",
    "duplicate",
    "split-brain",
    "digest-mismatch",
    "replica-gap",
    "unconverged",
    "invariant",
]

#: the status a write answers when it created the row (not a replay)
CREATED = 201
#: a write taken for later processing, created now (the open form's submission for review)
ACCEPTED = 202
#: a delete that removed the row now
DELETED = 204
#: the answers of a write applied by this very request (not a replay)
APPLIED = frozenset({CREATED, DELETED})


@dataclass(frozen=True)
class CopyRow:
    """One probe row as one copy holds it."""

    tenant: str
    id: str
    site: str | None = None  # the site that wrote it (DrillProbe.site)
    epoch: int | None = None
    written_at: str | None = None

    def origin(self) -> tuple[str | None, int | None, str | None]:
        return (self.site, self.epoch, self.written_at)


@dataclass(frozen=True)
class IncrementRow:
    """One applied increment of a drill counter, as one copy records it."""

    counter: str
    id: str
    value: int  # the counter's value right after it
    site: str | None = None
    epoch: int | None = None


@dataclass(frozen=True)
class CounterCopy:
    """A copy's drill counters: name → value, and the increments it records."""

    values: Mapping[str, int] = field(default_factory=dict)
    increments: Sequence[IncrementRow] = ()

    def applied(self, counter: str) -> dict[str, IncrementRow]:
        return {i.id: i for i in self.increments if i.counter == counter}


@dataclass(frozen=True)
class PlacementSeen:
    """A placement as the runner's etcd watch received it: ``epoch`` is the placement key's
    etcd revision; ``seen_at`` the runner's clock (Unix seconds) when it first knew it."""

    tenant: str
    epoch: int
    primary: str
    seen_at: float


@dataclass(frozen=True)
class CopyDigest:
    tenant: str
    site: str  # the site holding the copy
    seq: int
    digest: str


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    tenant: str
    detail: str
    id: str | None = None
    sites: tuple[str, ...] = ()
    epoch: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tenant": self.tenant,
            "id": self.id,
            "sites": list(self.sites),
            "epoch": self.epoch,
            "detail": self.detail,
        }


@dataclass
class CheckResult:
    acknowledged_writes: int = 0
    acknowledged_increments: int = 0
    acknowledged_deletes: int = 0
    lost: list[Finding] = field(default_factory=list)
    lost_updates: list[Finding] = field(default_factory=list)
    resurrected: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    split_brain: list[Finding] = field(default_factory=list)
    digest_mismatches: list[Finding] = field(default_factory=list)
    unconverged: list[Finding] = field(default_factory=list)
    replica_gaps: list[Finding] = field(default_factory=list)
    #: a service's rules broken at the authority (added by a service workload's checks)
    invariant_violations: list[Finding] = field(default_factory=list)
    quarantined_entries: int = 0
    #: acknowledgements that carried no epoch: split brain unverifiable for them
    acks_without_epoch: int = 0
    #: tenants with acknowledged writes but no copy read at all: nothing could be checked
    unverified_tenants: list[str] = field(default_factory=list)
    #: tenants whose primary after the drill was not read (down, unknown, unreadable)
    unreadable_primaries: list[str] = field(default_factory=list)
    #: tenants whose copies were at different seqs: digests not comparable
    digests_not_comparable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.lost_updates
            or self.resurrected
            or self.duplicates
            or self.split_brain
            or self.digest_mismatches
            or self.unconverged
            or self.invariant_violations
            or self.unverified_tenants
            or self.unreadable_primaries
        )

    def counts(self) -> dict[str, int]:
        return {
            "acknowledged_writes": self.acknowledged_writes,
            "acknowledged_increments": self.acknowledged_increments,
            "acknowledged_deletes": self.acknowledged_deletes,
            "lost_acknowledged_writes": len(self.lost),
            "lost_updates": len(self.lost_updates),
            "resurrected_deletes": len(self.resurrected),
            "duplicate_writes": len(self.duplicates),
            "split_brain_violations": len(self.split_brain),
            "quarantined_entries": self.quarantined_entries,
            "digest_mismatches": len(self.digest_mismatches),
            "unconverged_copies": len(self.unconverged),
            "invariant_violations": len(self.invariant_violations),
        }

    def to_json(self, *, max_findings: int = 200) -> dict[str, Any]:
        def cut(items: list[Finding]) -> list[dict[str, Any]]:
            return [item.to_json() for item in items[:max_findings]]

        return {
            **self.counts(),
            "ok": self.ok,
            "replica_gaps": len(self.replica_gaps),
            "acks_without_epoch": self.acks_without_epoch,
            "unverified_tenants": self.unverified_tenants,
            "unreadable_primaries": self.unreadable_primaries,
            "digests_not_comparable": self.digests_not_comparable,
            "findings": {
                "lost": cut(self.lost),
                "lost_updates": cut(self.lost_updates),
                "resurrected": cut(self.resurrected),
                "duplicates": cut(self.duplicates),
                "split_brain": cut(self.split_brain),
                "digest_mismatches": cut(self.digest_mismatches),
                "unconverged": cut(self.unconverged),
                "replica_gaps": cut(self.replica_gaps),
                "invariant_violations": cut(self.invariant_violations),
            },
        }


def check(
    attempts: Iterable[Attempt],
    copies: Mapping[str, Mapping[str, Iterable[CopyRow]]],
    *,
    primaries: Mapping[str, str] | None = None,
    digests: Iterable[CopyDigest] = (),
    quarantined: Mapping[str, int] | None = None,
    counters: Mapping[str, Mapping[str, CounterCopy]] | None = None,
    placements: Iterable[PlacementSeen] = (),
    members: Mapping[str, Iterable[str]] | None = None,
) -> CheckResult:
    """Check the log of a drill against the copies read after it.

    ``copies`` is site → tenant → the probe rows that site's copy of the tenant holds (a
    tenant listed with no rows is an empty copy; a tenant not listed is no copy there);
    ``counters`` the same for the drill counters. ``primaries`` is tenant → its primary
    after the drill (the authority); ``members`` tenant → the sites of its final placement
    (the copies that must have converged; default: every copy read). ``placements`` is
    every placement the runner's watch saw, with when it saw it.
    """
    log = list(attempts)
    acks = [a for a in log if a.acknowledged]
    result = CheckResult(quarantined_entries=sum((quarantined or {}).values()))
    inserts: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    increments: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    deletes: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    for ack in acks:
        {"increment": increments, "delete": deletes}.get(ack.op, inserts)[
            (ack.tenant, ack.id)
        ].append(ack)
    result.acknowledged_writes = len(inserts)
    result.acknowledged_increments = len(increments)
    result.acknowledged_deletes = len(deletes)

    held = _materialise(copies)
    counter_copies: dict[str, dict[str, CounterCopy]] = {
        site: dict(tenants) for site, tenants in (counters or {}).items()
    }
    tenants = {a.tenant for a in acks}
    authority = _authorities(tenants, held, counter_copies, primaries or {}, result)
    member_sets = {t: set(sites) for t, sites in (members or {}).items()}
    deleted_or_sent = {(a.tenant, a.id) for a in log if a.op == "delete"}
    gaps = _lost_and_gaps(inserts, deleted_or_sent, held, authority, member_sets, result)
    _lost_before_delete(log, inserts, result)
    _resurrected(deletes, held, authority, result)
    gaps |= _lost_updates(log, increments, counter_copies, authority, member_sets, result)
    _digests(digests, member_sets, authority, gaps, result)
    # a copy that never converged is judged as that; its rows (an unreplicated tail still
    # awaiting quarantine) are no evidence of a write applied twice
    apart = {(f.tenant, f.sites[0]) for f in result.unconverged}
    _duplicates(inserts, increments, held, counter_copies, authority, result, skip=apart)
    _split_brain(acks, held, counter_copies, placements, result)
    return result


# site → tenant → id → rows (a list: a broken copy may hold one id twice)
_Held = dict[str, dict[str, dict[str, list[CopyRow]]]]
_Counters = dict[str, dict[str, CounterCopy]]


def _materialise(copies: Mapping[str, Mapping[str, Iterable[CopyRow]]]) -> _Held:
    held: _Held = {}
    for site, tenants in copies.items():
        held[site] = {}
        for tenant, rows in tenants.items():
            by_id: dict[str, list[CopyRow]] = defaultdict(list)
            for row in rows:
                by_id[row.id].append(row)
            held[site][tenant] = dict(by_id)
    return held


def _authorities(
    tenants: Iterable[str],
    held: _Held,
    counters: _Counters,
    primaries: Mapping[str, str],
    result: CheckResult,
) -> dict[str, str]:
    """tenant → its authority (the primary after the drill, read). A tenant with no copy
    read is unverified; one whose primary was not read has no authority: both fail."""
    found: dict[str, str] = {}
    for tenant in sorted(tenants):
        holders = {s for s, ts in held.items() if tenant in ts}
        holders |= {s for s, ts in counters.items() if tenant in ts}
        primary = primaries.get(tenant)
        if not holders:
            result.unverified_tenants.append(tenant)
        elif primary is None or tenant not in held.get(primary, {}):
            result.unreadable_primaries.append(tenant)
        else:
            found[tenant] = primary
    return found


def _is_member(tenant: str, site: str, members: Mapping[str, set[str]]) -> bool:
    return tenant not in members or site in members[tenant]


def _lost_and_gaps(
    acked: Mapping[tuple[str, str], list[Attempt]],
    deletes_sent: set[tuple[str, str]],
    held: _Held,
    authority: Mapping[str, str],
    members: Mapping[str, set[str]],
    result: CheckResult,
) -> set[tuple[str, str]]:
    """Lost probes and replica gaps; returns the (tenant, site) copies with a gap."""
    gaps: set[tuple[str, str]] = set()
    for (tenant, write_id), acks in sorted(acked.items()):
        primary = authority.get(tenant)
        if primary is None or (tenant, write_id) in deletes_sent:
            continue  # no authority (already failing), or a delete may have removed it
        where = sorted({a.served_by or a.site for a in acks})
        if write_id not in held[primary][tenant]:
            result.lost.append(
                Finding(
                    "lost",
                    tenant,
                    f"acknowledged by {', '.join(where)} but missing at the primary {primary}",
                    id=write_id,
                    sites=tuple(where),
                )
            )
            continue
        missing = sorted(
            site
            for site, tenants in held.items()
            if tenant in tenants
            and write_id not in tenants[tenant]
            and _is_member(tenant, site, members)
        )
        if missing:
            gaps.update((tenant, site) for site in missing)
            result.replica_gaps.append(
                Finding(
                    "replica-gap",
                    tenant,
                    f"held by the primary but not by {', '.join(missing)}",
                    id=write_id,
                    sites=tuple(missing),
                )
            )
    return gaps


def _lost_before_delete(
    log: Sequence[Attempt], inserts: Mapping[tuple[str, str], list[Attempt]], result: CheckResult
) -> None:
    """A delete's *first* attempt answered "already absent" (200, value 0) by the primary:
    nothing of this delete can have been applied before it, so the acknowledged probe was
    already gone — lost. (A later attempt may follow one that was applied: not evidence.)"""
    for attempt in log:
        if (
            attempt.op == "delete"
            and attempt.attempt == 1
            and attempt.status == 200
            and attempt.value == 0
            and (attempt.tenant, attempt.id) in inserts
        ):
            result.lost.append(
                Finding(
                    "lost",
                    attempt.tenant,
                    f"acknowledged, then already absent at {attempt.served_by or attempt.site} "
                    "when its first delete came",
                    id=attempt.id,
                    sites=(attempt.served_by or attempt.site,),
                    epoch=attempt.epoch,
                )
            )


def _resurrected(
    deletes: Mapping[tuple[str, str], list[Attempt]],
    held: _Held,
    authority: Mapping[str, str],
    result: CheckResult,
) -> None:
    for (tenant, probe_id), acks in sorted(deletes.items()):
        primary = authority.get(tenant)
        if primary is not None and probe_id in held[primary][tenant]:
            where = sorted({a.served_by or a.site for a in acks})
            result.resurrected.append(
                Finding(
                    "resurrected",
                    tenant,
                    f"delete acknowledged by {', '.join(where)}, but the primary {primary} "
                    "holds the probe",
                    id=probe_id,
                    sites=tuple(where),
                )
            )


def _lost_updates(
    log: Sequence[Attempt],
    acked: Mapping[tuple[str, str], list[Attempt]],
    counters: _Counters,
    authority: Mapping[str, str],
    members: Mapping[str, set[str]],
    result: CheckResult,
) -> set[tuple[str, str]]:
    """Lost updates of the counters this run incremented; returns copies with a gap."""
    gaps: set[tuple[str, str]] = set()
    touched: dict[str, set[str]] = defaultdict(set)
    for attempt in log:
        if attempt.op == "increment" and attempt.counter:
            touched[attempt.tenant].add(attempt.counter)
    by_counter: dict[tuple[str, str], dict[str, list[Attempt]]] = defaultdict(dict)
    for (tenant, increment_id), acks in acked.items():
        counter = acks[0].counter or ""
        by_counter[(tenant, counter)][increment_id] = acks

    def lost(tenant: str, counter: str, detail: str, increment_id: str | None = None) -> None:
        result.lost_updates.append(
            Finding("lost-update", tenant, f"counter {counter}: {detail}", id=increment_id)
        )

    for tenant in sorted(touched):
        primary = authority.get(tenant)
        if primary is None:
            continue
        copy = counters.get(primary, {}).get(tenant, CounterCopy())
        for counter in sorted(touched[tenant]):
            applied = copy.applied(counter)
            answered: dict[int, list[str]] = defaultdict(list)
            for increment_id, acks in sorted(by_counter.get((tenant, counter), {}).items()):
                values = sorted({a.value for a in acks if a.value is not None})
                if values:
                    answered[values[0]].append(increment_id)
                row = applied.get(increment_id)
                if row is None:
                    lost(
                        tenant,
                        counter,
                        f"increment acknowledged (value {values}) but not "
                        f"recorded at the primary {primary}",
                        increment_id,
                    )
                elif any(v != row.value for v in values):
                    lost(
                        tenant,
                        counter,
                        f"answered value {values}, recorded {row.value} at "
                        f"{primary}: applied again",
                        increment_id,
                    )
                else:
                    missing = sorted(
                        site
                        for site, tenants in counters.items()
                        if site != primary
                        and tenant in tenants
                        and _is_member(tenant, site, members)
                        and increment_id not in tenants[tenant].applied(counter)
                    )
                    gaps.update((tenant, site) for site in missing)
            for value, ids in sorted(answered.items()):
                if len(ids) > 1:
                    lost(
                        tenant,
                        counter,
                        f"{len(ids)} increments answered with one value "
                        f"{value}: {', '.join(ids[:5])}",
                    )
            recorded = sorted(row.value for row in applied.values())
            current = copy.values.get(counter, 0)
            if current != len(recorded) or recorded != list(range(1, len(recorded) + 1)):
                lost(
                    tenant,
                    counter,
                    f"value {current} at {primary} with {len(recorded)} "
                    f"increments recorded (values {_span(recorded)}): an increment was lost",
                )
    return gaps


def _span(values: Sequence[int]) -> str:
    if not values:
        return "none"
    repeated = len(values) - len(set(values))
    return f"{values[0]}..{values[-1]}" + (f", {repeated} repeated" if repeated else "")


def _duplicates(
    inserts: Mapping[tuple[str, str], list[Attempt]],
    increments: Mapping[tuple[str, str], list[Attempt]],
    held: _Held,
    counters: _Counters,
    authority: Mapping[str, str],
    result: CheckResult,
    *,
    skip: set[tuple[str, str]],
) -> None:
    seen: set[tuple[str, str]] = set()

    def report(tenant: str, write_id: str, detail: str, sites: Iterable[str]) -> None:
        if (tenant, write_id) not in seen:
            seen.add((tenant, write_id))
            result.duplicates.append(
                Finding("duplicate", tenant, detail, id=write_id, sites=tuple(sorted(sites)))
            )

    origins: dict[tuple[str, str], dict[tuple[Any, ...], set[str]]] = defaultdict(dict)
    for site, tenants in sorted(held.items()):
        for tenant, ids in tenants.items():
            for write_id, rows in ids.items():
                if len(rows) > 1:
                    report(tenant, write_id, f"{len(rows)} rows with one id at {site}", [site])
                if (tenant, site) in skip:
                    continue
                for row in rows:
                    origins[(tenant, write_id)].setdefault(row.origin(), set()).add(site)
    for site, counter_tenants in sorted(counters.items()):
        for tenant, copy in counter_tenants.items():
            if (tenant, site) in skip:
                continue
            for inc in copy.increments:
                origin = (inc.site, inc.epoch, inc.value)
                origins[(tenant, inc.id)].setdefault(origin, set()).add(site)
    at_primary = {
        (tenant, write_id)
        for tenant, primary in authority.items()
        for write_id in [
            *held.get(primary, {}).get(tenant, {}),
            *(i.id for i in counters.get(primary, {}).get(tenant, CounterCopy()).increments),
        ]
    }
    for (tenant, write_id), by_origin in sorted(origins.items()):
        if tenant in authority and (tenant, write_id) not in at_primary:
            # versions of a write the primary does not hold are leftovers of copies still
            # rejoining (a killed primary's unreplicated tail, read mid catch-up), not an id
            # applied twice in the history that survives; copies that stay apart fail as
            # unconverged or mismatched
            continue
        if len(by_origin) > 1:
            writers = sorted({str(origin[0]) for origin in by_origin})
            report(
                tenant,
                write_id,
                f"copies disagree on who wrote it ({', '.join(writers)}): applied more than once",
                {site for sites in by_origin.values() for site in sites},
            )
    for (tenant, write_id), acks in sorted({**inserts, **increments}.items()):
        created = [a for a in acks if a.status in (CREATED, ACCEPTED)]
        if len(created) > 1:
            report(
                tenant,
                write_id,
                f"created {len(created)} times (HTTP {'/'.join(sorted({str(a.status) for a in created}))})",
                {a.served_by or a.site for a in created},
            )


def _split_brain(
    acks: list[Attempt],
    held: _Held,
    counters: _Counters,
    placements: Iterable[PlacementSeen],
    result: CheckResult,
) -> None:
    found: set[tuple[str, int]] = set()
    _deposed_acks(acks, placements, result)
    by_epoch: dict[tuple[str, int], set[str]] = defaultdict(set)
    for ack in acks:
        if ack.epoch is None:
            result.acks_without_epoch += 1
            continue
        by_epoch[(ack.tenant, ack.epoch)].add(ack.served_by or ack.site)
    for (tenant, epoch), sites in sorted(by_epoch.items()):
        if len(sites) > 1:
            found.add((tenant, epoch))
            result.split_brain.append(
                Finding(
                    "split-brain",
                    tenant,
                    f"{', '.join(sorted(sites))} acknowledged writes in epoch {epoch}",
                    sites=tuple(sorted(sites)),
                    epoch=epoch,
                )
            )
    writers: dict[tuple[str, int], set[str]] = defaultdict(set)
    for tenants in held.values():
        for tenant, ids in tenants.items():
            for rows in ids.values():
                for row in rows:
                    if row.epoch is not None and row.site is not None:
                        writers[(tenant, row.epoch)].add(row.site)
    for counter_tenants in counters.values():
        for tenant, copy in counter_tenants.items():
            for inc in copy.increments:
                if inc.epoch is not None and inc.site is not None:
                    writers[(tenant, inc.epoch)].add(inc.site)
    for (tenant, epoch), sites in sorted(writers.items()):
        if len(sites) > 1 and (tenant, epoch) not in found:
            result.split_brain.append(
                Finding(
                    "split-brain",
                    tenant,
                    f"rows of epoch {epoch} written by {', '.join(sorted(sites))}",
                    sites=tuple(sorted(sites)),
                    epoch=epoch,
                )
            )


def _deposed_acks(
    acks: Iterable[Attempt], placements: Iterable[PlacementSeen], result: CheckResult
) -> None:
    """Writes applied and acknowledged by a deposed primary: site S answered 201/204 with
    epoch E to a request the runner *sent* after its watch had received a placement of an
    epoch R > E naming another primary.

    Why it is sound (never flags a correct run): the placement of revision R was committed
    by etcd before any watcher received it, so commit(R) < seen_at; the request was sent
    after seen_at, so S decided to apply and acknowledge it after commit(R). Both times
    are the runner's own clock (no clocks of two machines are compared). A promotion seals
    the in-sync copies *before* its placement is written, so once R is committed no
    correct primary of an older epoch can still have a write acknowledged: S did, while
    another site was (or was becoming) the primary — two primaries overlapping.

    Which way it errs: it misses violations, never invents one. An acknowledgement decided
    between commit(R) and seen_at (the watch's delay), or on a request sent before seen_at,
    is not flagged (the other rules may still catch it). A replay (200) writes nothing and
    is judged by the loss rules instead. A placement of a newer epoch naming the *same*
    primary (an in-sync set change, which does not change the epoch a primary writes
    with) is not a deposition and is ignored — so is a re-promotion of the same site.
    """
    history: dict[str, list[PlacementSeen]] = defaultdict(list)
    for seen in placements:
        history[seen.tenant].append(seen)
    flagged: dict[tuple[str, str, int], tuple[int, Attempt, PlacementSeen]] = {}
    for ack in acks:
        if ack.status not in APPLIED or ack.epoch is None:
            continue
        writer = ack.served_by or ack.site
        newer = [
            p
            for p in history.get(ack.tenant, ())
            if p.epoch > ack.epoch and p.primary != writer and p.seen_at < ack.t
        ]
        if not newer:
            continue
        first = min(newer, key=lambda p: p.seen_at)
        key = (ack.tenant, writer, ack.epoch)
        count, example, placement = flagged.get(key, (0, ack, first))
        flagged[key] = (count + 1, example, placement)
    for (tenant, writer, epoch), (count, example, placement) in sorted(flagged.items()):
        result.split_brain.append(
            Finding(
                "split-brain",
                tenant,
                f"{writer} acknowledged {count} write(s) in epoch {epoch} sent after the "
                f"placement of epoch {placement.epoch} (primary {placement.primary}) was seen "
                f"({example.t - placement.seen_at:.3f} s before the first)",
                id=example.id,
                sites=(writer, placement.primary),
                epoch=epoch,
            )
        )


def _digests(
    digests: Iterable[CopyDigest],
    members: Mapping[str, set[str]],
    authority: Mapping[str, str],
    gaps: set[tuple[str, str]],
    result: CheckResult,
) -> None:
    digests_read = list(digests)
    by_tenant: dict[str, list[CopyDigest]] = defaultdict(list)
    for digest in digests_read:
        if _is_member(digest.tenant, digest.site, members):
            by_tenant[digest.tenant].append(digest)
    seq_of = {(d.tenant, d.site): d.seq for d in digests_read}
    behind: dict[tuple[str, str], str] = {
        (tenant, site): "lacks acknowledged writes the primary holds"
        + _seqs(seq_of.get((tenant, site)), seq_of.get((tenant, authority.get(tenant, ""))))
        for tenant, site in gaps
    }
    for tenant, items in sorted(by_tenant.items()):
        by_seq: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for item in items:
            by_seq[item.seq][item.digest].add(item.site)
        if len(by_seq) > 1:
            result.digests_not_comparable.append(tenant)
            reference = next((i.seq for i in items if i.site == authority.get(tenant)), max(by_seq))
            for item in items:
                if item.seq != reference:
                    behind[(tenant, item.site)] = (
                        f"at seq {item.seq}, the {'primary' if tenant in authority else 'newest'}"
                        f" at {reference}"
                    )
        for seq, values in sorted(by_seq.items()):
            if len(values) > 1:
                sites = sorted(site for group in values.values() for site in group)
                result.digest_mismatches.append(
                    Finding(
                        "digest-mismatch",
                        tenant,
                        f"copies at seq {seq} differ: "
                        + "; ".join(
                            f"{', '.join(sorted(group))}={value[:12]}"
                            for value, group in sorted(values.items())
                        ),
                        sites=tuple(sites),
                    )
                )
    for (tenant, site), why in sorted(behind.items()):
        result.unconverged.append(
            Finding(
                "unconverged",
                tenant,
                f"the copy at {site} never converged: {why}",
                sites=(site,),
            )
        )


def _seqs(copy: int | None, primary: int | None) -> str:
    """Where a copy with a gap stands: its seq and the primary's as read with its rows (a
    gap at the primary's own seq is divergence, and its digest differs too)."""
    if copy is None or primary is None:
        return " (its seq or the primary's not read)"
    return f" (at seq {copy}, the primary at {primary})"
