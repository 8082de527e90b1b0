"""Detection by the controller's direct probes: a site whose process is gone (nothing
listens) is lost after three refused probes, well before its lease runs out; a site that
is only slow (it accepts, answers late) is not failed over by unanswered probes until
longer than its lease — a busy site still renews its lease, and failing it over cost an
evacuation of 1,000 tenants dozens of needless promotions (docs/failover.md)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, cast

import httpx

from failover.controller.detection import ControllerTiming, Probes, probe
from failover.controller.loop import Controller
from failover.coordination import SANDBOX
from failover.coordination.interface import SiteRecord
from failover.placement.policy import Placement

TIMING = ControllerTiming()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _outcomes() -> dict[str, str]:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # accepts, reads nothing, answers nothing: a busy loop
        writer.close()

    async def healthy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    slow = await asyncio.start_server(silent, "127.0.0.1", 0)
    up = await asyncio.start_server(healthy, "127.0.0.1", 0)
    urls = {
        "gone": f"http://127.0.0.1:{_free_port()}",
        "slow": f"http://127.0.0.1:{slow.sockets[0].getsockname()[1]}",
        "up": f"http://127.0.0.1:{up.sockets[0].getsockname()[1]}",
    }
    try:
        async with httpx.AsyncClient(timeout=0.3, trust_env=False) as client:
            return {name: await probe(client, url) for name, url in urls.items()}
    finally:
        for server in (slow, up):
            server.close()


def test_a_probe_tells_a_gone_site_from_a_slow_one() -> None:
    assert asyncio.run(_outcomes()) == {"gone": "refused", "slow": "timeout", "up": "ok"}


def test_refused_probes_fail_a_site_fast_unanswered_ones_only_after_longer_than_its_lease() -> None:
    probes = Probes()
    for _ in range(TIMING.probe_failures):
        probes.record("aws-tokyo", "refused")
        probes.record("gcp-osaka", "timeout")
    assert probes.failing(TIMING) == {"aws-tokyo"}

    # The slow site's unanswered probes outlast its lease before they count on their own.
    lease_seconds = 3.0
    per_probe = TIMING.probe_interval_seconds + TIMING.probe_timeout_seconds
    assert TIMING.probe_timeouts * per_probe > lease_seconds
    for _ in range(TIMING.probe_timeouts - TIMING.probe_failures):
        probes.record("gcp-osaka", "timeout")
    assert probes.failing(TIMING) == {"aws-tokyo", "gcp-osaka"}

    # One answer clears a site; a mix of refusals and timeouts starts the count again.
    probes.record("aws-tokyo", "ok")
    probes.record("gcp-osaka", "refused")
    assert probes.failing(TIMING) == set()


class _View:
    """The parts of a cluster view the loss rule reads."""

    def __init__(self, sites: set[str], *, silence: float, connected_since: float) -> None:
        self.site_names = sites
        self.connected = True
        self.connected_since = connected_since
        self.silence_before = silence

    def sites(self) -> dict[str, SiteRecord]:
        return {n: SiteRecord(n, "p", "r", ("z",), (f"http://{n}",)) for n in self.site_names}

    def placements(self) -> dict[str, Placement]:
        return {"041009": Placement("041009", "sakura-ishikari", ("aws-tokyo",), ("aws-tokyo",))}


def _controller(view: _View) -> Controller:
    timing = ControllerTiming.for_coordination(SANDBOX)
    controller = Controller("aws-tokyo", cast(Any, None), cast(Any, view), cast(Any, None), timing)
    controller.lost_sites()  # sees every site alive
    return controller


def test_a_missing_key_after_an_etcd_outage_waits_for_the_probes_or_the_grace() -> None:
    now = time.monotonic()
    view = _View({"sakura-ishikari", "aws-tokyo"}, silence=5.0, connected_since=now)
    controller = _controller(view)
    view.site_names = {"aws-tokyo"}  # the primary's key is not back yet
    assert controller.after_etcd_outage()
    assert controller.lost_sites() == set()
    for _ in range(TIMING.probe_failures):  # but its process is gone
        controller.probes.record("sakura-ishikari", "refused")
    assert controller.lost_sites() == {"sakura-ishikari"}
    # Once the grace has passed, the missing key is etcd's word again.
    controller.probes.clear()
    view.connected_since = now - SANDBOX.reregistration_seconds
    assert not controller.after_etcd_outage()
    assert controller.lost_sites() == set()  # not probed yet in this term
    controller.probes.record("sakura-ishikari", "timeout")
    assert controller.lost_sites() == {"sakura-ishikari"}


def test_in_steady_state_a_missing_key_is_lost_at_once_unless_the_site_answers() -> None:
    # A member switch (a short silence) is no outage.
    view = _View({"sakura-ishikari", "aws-tokyo"}, silence=1.0, connected_since=time.monotonic())
    controller = _controller(view)
    view.site_names = {"aws-tokyo"}
    assert controller.lost_sites() == set()  # the term has not probed it yet
    controller.probes.record("sakura-ishikari", "timeout")
    assert controller.lost_sites() == {"sakura-ishikari"}
    # A site that still answers its probes gets the grace from the moment its key went.
    controller.probes.record("sakura-ishikari", "ok")
    assert controller.lost_sites() == set()
    controller.absent_since["sakura-ishikari"] -= SANDBOX.reregistration_seconds
    assert controller.lost_sites() == {"sakura-ishikari"}
