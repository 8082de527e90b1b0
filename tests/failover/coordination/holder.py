"""A child process for the coordination tests; prints what happens, one line each.

python holder.py site <endpoints,comma,separated> <site-name>
python holder.py campaign <endpoints,comma,separated> <node-id>
"""

from __future__ import annotations

import asyncio
import sys

from failover.coordination import SiteRecord, connect_etcd


def say(*words: object) -> None:
    print(*words, flush=True)


async def hold_site(endpoints: list[str], name: str) -> None:
    async with connect_etcd(endpoints) as coordination:
        record = SiteRecord(
            name=name,
            provider="test",
            region="loopback",
            hazard_zones=("nowhere",),
            urls=("http://127.0.0.1:1",),
        )
        registration = await coordination.register_site(record)
        say("READY", registration.lease_id)
        lease = registration.lease_id
        while True:
            await asyncio.sleep(0.1)
            if registration.lease_id not in (0, lease):
                lease = registration.lease_id
                say("REREGISTERED", lease)


async def run_campaign(endpoints: list[str], node: str) -> None:
    async with connect_etcd(endpoints) as coordination:
        leadership = coordination.campaign(node)
        leadership.on_lost(lambda term: say("LOST", term))
        say("CANDIDATE")
        while True:
            await leadership.wait_elected()
            say("LEADER", leadership.term)
            await leadership.wait_lost()


def main() -> None:
    role, endpoints, name = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    if role == "site":
        asyncio.run(hold_site(endpoints, name))
    elif role == "campaign":
        asyncio.run(run_campaign(endpoints, name))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
