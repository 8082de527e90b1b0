"""Many cheap tenants for the sandbox: placements only (their data is empty), for measuring
and testing moves of many tenants at once (bench/failover.py, tests/failover)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from failover.coordination import connect_etcd
from failover.coordination.interface import PlacementConflict
from failover.placement.policy import Placement
from yui.tenancy.codes import check_digit
from yui.tls import TlsFiles

#: the first five digits of the first bulk tenant code (far from the demo tenants)
FIRST = 90000


def bulk_codes(count: int, first: int = FIRST) -> list[str]:
    """``count`` valid local-government codes (check digit included)."""
    return [f"{n:05d}{check_digit(f'{n:05d}')}" for n in range(first, first + count)]


async def place_empty_tenants(
    endpoints: Sequence[str],
    primary: str,
    replicas: Sequence[str],
    count: int,
    *,
    first: int = FIRST,
    concurrency: int = 64,
    tls: TlsFiles | None = None,
) -> list[str]:
    """Publish ``count`` placements with their primary at ``primary`` and every replica in
    sync (an empty tenant is caught up by definition). Existing placements are kept.
    ``tls``: etcd over TLS with this client certificate (a sandbox's operator's)."""
    codes = bulk_codes(count, first)
    gate = asyncio.Semaphore(concurrency)
    async with connect_etcd(list(endpoints), tls=tls) as coordination:

        async def one(code: str) -> None:
            placement = Placement(code, primary, tuple(replicas), tuple(replicas))
            async with gate:
                with contextlib.suppress(PlacementConflict):  # placed by an earlier run: kept
                    await coordination.put_placement_if(code, placement, 0)

        await asyncio.gather(*(one(code) for code in codes))
    return codes
