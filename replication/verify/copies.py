"""Comparing every copy of a tenant at one seq, while writes go on.

1. Each replica is asked to hold: it keeps logging (and acknowledging) what arrives,
   but applies nothing further for now.
2. The primary computes its digest in one consistent read: (seq S, digest).
3. Each replica's hold moves to S; once it has applied exactly S, it computes its
   digest there; then every hold is released.
Every replica was at or below S at step 1 (it cannot be ahead of the primary), so it
can reach S exactly. Differences are named by copy and table (rows and digest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from replication.protocol.client import PeerClient, PeerError
from replication.protocol.wire import DigestOut


@dataclass
class CopyDigest:
    site: str
    role: str
    digest: DigestOut | None = None
    error: str | None = None


@dataclass
class VerifyReport:
    tenant: str
    seq: int | None
    copies: list[CopyDigest]
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and all(copy.error is None for copy in self.copies)


async def verify_tenant(
    client: PeerClient,
    tenant: str,
    primary: str,
    replicas: list[str],
    wait_seconds: float = 60.0,
) -> VerifyReport:
    copies = [CopyDigest(primary, "primary")] + [CopyDigest(r, "replica") for r in replicas]
    held: list[CopyDigest] = []
    try:
        for copy in copies[1:]:
            try:
                await client.hold(copy.site, tenant, None, ttl=wait_seconds + 60)
                held.append(copy)
            except (PeerError, httpx.HTTPError) as error:
                copy.error = f"hold: {error}"
        try:
            copies[0].digest = await client.digest(primary, tenant, wait=0)
        except (PeerError, httpx.HTTPError) as error:
            copies[0].error = f"digest: {error}"
            return VerifyReport(tenant, None, copies, [f"{primary}: {error}"])
        seq = copies[0].digest.seq
        for copy in held:
            try:
                await client.hold(copy.site, tenant, seq, ttl=wait_seconds + 60)
                copy.digest = await client.digest(copy.site, tenant, seq=seq, wait=wait_seconds)
            except (PeerError, httpx.HTTPError) as error:
                copy.error = f"digest at {seq}: {error}"
    finally:
        for copy in held:
            try:
                await client.release(copy.site, tenant)
            except (PeerError, httpx.HTTPError) as error:
                copy.error = copy.error or f"release: {error}"
    return VerifyReport(tenant, seq, copies, _differences(copies))


def _differences(copies: list[CopyDigest]) -> list[str]:
    reference = copies[0].digest
    differences: list[str] = []
    if reference is None:
        return differences
    for copy in copies[1:]:
        if copy.digest is None:
            differences.append(f"{copy.site}: no digest ({copy.error})")
            continue
        if copy.digest.digest == reference.digest:
            continue
        for name in sorted(set(reference.tables) | set(copy.digest.tables)):
            mine, theirs = reference.tables.get(name), copy.digest.tables.get(name)
            if mine != theirs:
                differences.append(
                    f"{copy.site}: table {name}: "
                    f"{theirs.rows if theirs else 'no'} rows / digest "
                    f"{theirs.digest[:12] if theirs else '-'} vs the primary's "
                    f"{mine.rows if mine else 'no'} rows / {mine.digest[:12] if mine else '-'}"
                )
    return differences
