"""The drill's checker: what was acknowledged against what every surviving copy holds. Pure.

Definitions (docs/drills.md states them for operators):

- **lost acknowledged write** — a write some site acknowledged (HTTP 200/201) that the
  tenant's authoritative copy does not hold. The authoritative copy is the tenant's
  primary after the drill when that copy was read; otherwise (the primary is gone) a
  write is lost only if *no* surviving copy holds it.
- **replica gap** (informational) — an acknowledged write the authority holds but another
  copy of the tenant lacks: lag, or a replica that diverged (the digests tell which).
- **duplicate write** — one id applied more than once: two rows with one id in one copy;
  copies that disagree on the row's origin (site, epoch, time: written twice, at two
  primaries); or two "created" answers (201) for one id.
- **split-brain violation** — two sites acknowledged writes of one tenant in one epoch
  (from the ``X-Yui-Epoch`` answers), or rows of one tenant and epoch written by two
  sites (from the copies).
- **digest mismatch** — two copies of a tenant at the same seq with different digests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from failover.drill.loadgen import Attempt

__all__ = ["CheckResult", "CopyDigest", "CopyRow", "Finding", "check"]

FindingKind = Literal["lost", "duplicate", "split-brain", "digest-mismatch", "replica-gap"]

#: the status a write answers when it created the row (not a replay)
CREATED = 201


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
    lost: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    split_brain: list[Finding] = field(default_factory=list)
    digest_mismatches: list[Finding] = field(default_factory=list)
    replica_gaps: list[Finding] = field(default_factory=list)
    quarantined_entries: int = 0
    #: acknowledgements that carried no epoch: split brain unverifiable for them
    acks_without_epoch: int = 0
    #: tenants with acknowledged writes but no copy read at all: nothing could be checked
    unverified_tenants: list[str] = field(default_factory=list)
    #: tenants whose copies were at different seqs: digests not comparable
    digests_not_comparable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicates
            or self.split_brain
            or self.digest_mismatches
            or self.unverified_tenants
        )

    def counts(self) -> dict[str, int]:
        return {
            "acknowledged_writes": self.acknowledged_writes,
            "lost_acknowledged_writes": len(self.lost),
            "duplicate_writes": len(self.duplicates),
            "split_brain_violations": len(self.split_brain),
            "quarantined_entries": self.quarantined_entries,
            "digest_mismatches": len(self.digest_mismatches),
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
            "digests_not_comparable": self.digests_not_comparable,
            "findings": {
                "lost": cut(self.lost),
                "duplicates": cut(self.duplicates),
                "split_brain": cut(self.split_brain),
                "digest_mismatches": cut(self.digest_mismatches),
                "replica_gaps": cut(self.replica_gaps),
            },
        }


def check(
    attempts: Iterable[Attempt],
    copies: Mapping[str, Mapping[str, Iterable[CopyRow]]],
    *,
    primaries: Mapping[str, str] | None = None,
    digests: Iterable[CopyDigest] = (),
    quarantined: Mapping[str, int] | None = None,
) -> CheckResult:
    """Check the log of a drill against the copies read after it.

    ``copies`` is site → tenant → the rows that site's copy of the tenant holds (a tenant
    listed with no rows is an empty copy; a tenant not listed is no copy there).
    ``primaries`` is tenant → its primary after the drill.
    """
    acks = [a for a in attempts if a.acknowledged]
    result = CheckResult(quarantined_entries=sum((quarantined or {}).values()))
    acked: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    for ack in acks:
        acked[(ack.tenant, ack.id)].append(ack)
    result.acknowledged_writes = len(acked)

    held = _materialise(copies)
    _lost_and_gaps(acked, held, primaries or {}, result)
    _duplicates(acked, held, result)
    _split_brain(acks, held, result)
    _digests(digests, result)
    return result


# site → tenant → id → rows (a list: a broken copy may hold one id twice)
_Held = dict[str, dict[str, dict[str, list[CopyRow]]]]


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


def _lost_and_gaps(
    acked: Mapping[tuple[str, str], list[Attempt]],
    held: _Held,
    primaries: Mapping[str, str],
    result: CheckResult,
) -> None:
    unverified: set[str] = set()
    for (tenant, write_id), acks in sorted(acked.items()):
        holders = [site for site, tenants in held.items() if tenant in tenants]
        if not holders:
            unverified.add(tenant)
            continue
        primary = primaries.get(tenant)
        where = sorted({a.served_by or a.site for a in acks})
        if primary in holders:
            present = write_id in held[primary][tenant]
            basis = f"the primary {primary}"
        else:
            present = any(write_id in held[site][tenant] for site in holders)
            basis = "every surviving copy"
        if not present:
            result.lost.append(
                Finding(
                    "lost",
                    tenant,
                    f"acknowledged by {', '.join(where)} but missing at {basis}",
                    id=write_id,
                    sites=tuple(where),
                )
            )
            continue
        missing = sorted(site for site in holders if write_id not in held[site][tenant])
        if missing:
            result.replica_gaps.append(
                Finding(
                    "replica-gap",
                    tenant,
                    f"held by the authority but not by {', '.join(missing)}",
                    id=write_id,
                    sites=tuple(missing),
                )
            )
    result.unverified_tenants = sorted(unverified)


def _duplicates(
    acked: Mapping[tuple[str, str], list[Attempt]], held: _Held, result: CheckResult
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
                for row in rows:
                    origins[(tenant, write_id)].setdefault(row.origin(), set()).add(site)
    for (tenant, write_id), by_origin in sorted(origins.items()):
        if len(by_origin) > 1:
            writers = sorted({str(origin[0]) for origin in by_origin})
            report(
                tenant,
                write_id,
                f"copies disagree on who wrote it ({', '.join(writers)}): applied more than once",
                {site for sites in by_origin.values() for site in sites},
            )
    for (tenant, write_id), acks in sorted(acked.items()):
        created = [a for a in acks if a.status == CREATED]
        if len(created) > 1:
            report(
                tenant,
                write_id,
                f"created {len(created)} times (HTTP 201)",
                {a.served_by or a.site for a in created},
            )


def _split_brain(acks: list[Attempt], held: _Held, result: CheckResult) -> None:
    by_epoch: dict[tuple[str, int], set[str]] = defaultdict(set)
    for ack in acks:
        if ack.epoch is None:
            result.acks_without_epoch += 1
            continue
        by_epoch[(ack.tenant, ack.epoch)].add(ack.served_by or ack.site)
    found: set[tuple[str, int]] = set()
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


def _digests(digests: Iterable[CopyDigest], result: CheckResult) -> None:
    by_tenant: dict[str, list[CopyDigest]] = defaultdict(list)
    for digest in digests:
        by_tenant[digest.tenant].append(digest)
    for tenant, items in sorted(by_tenant.items()):
        by_seq: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for item in items:
            by_seq[item.seq][item.digest].add(item.site)
        if len(by_seq) > 1:
            result.digests_not_comparable.append(tenant)
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
