"""Planned moves against real processes: the sandbox's three site nodes and real etcd.

Switchover under load loses nothing and reports its pause; writes during a pause get a
retryable 503; a switchover that cannot be made (target out of sync, target killed)
leaves the tenant at its old primary, which takes writes again; an evacuation moves
every primary off a site and a failback moves some back."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.drill_runner.runner import DrillOptions, run_drill
from assembly.drill_runner.sandbox_env import MovingWatch, open_environment, sandbox_peer_client
from assembly.sandbox.empty_tenants import place_empty_tenants
from assembly.sandbox.plan import operator_tls, operator_verify
from assembly.sandbox.runner import ALERT_TOKEN_FILE, Sandbox
from failover.controller.moves import MoveRefused, failback, request_evacuation, switchover
from failover.coordination import connect_etcd
from failover.coordination.interface import Coordination
from failover.placement.policy import Placement
from replication.protocol.client import PeerClient
from tests.failover.alerts.conftest import cap_tsunami
from tests.support.sandboxes import demo_sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd, pytest.mark.slow, pytest.mark.timeout(120)]
T = TypeVar("T")
SENDAI = "041009"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # Over TLS, as the sandbox and production run (mutual TLS between the sites, etcd with
    # client certificates): the moves, the writes and the etcd reads below present the
    # operator's certificate.
    box, demo = demo_sandbox(tmp_path_factory, "moves-sandbox", 18761)
    assert operator_tls(box.root) is not None, "the moves must be tested over TLS"
    box.demo = {t.code: t for t in demo}  # type: ignore[attr-defined]
    yield box
    box.down()


def _endpoints(sandbox: Sandbox, without: str | None = None) -> list[str]:
    records = sandbox.state.load()
    return [
        f"127.0.0.1:{r.port}" for r in records if r.role == "etcd" and r.port and r.site != without
    ]


def _urls(sandbox: Sandbox) -> dict[str, str]:
    scheme = "https" if operator_tls(sandbox.root) else "http"
    return {
        r.site: f"{scheme}://127.0.0.1:{r.port}" for r in sandbox.state.load() if r.role == "node"
    }


def _with(
    sandbox: Sandbox,
    work: Callable[[Coordination, PeerClient], Awaitable[T]],
    without: str | None = None,
) -> T:
    async def main() -> T:
        async with (
            connect_etcd(
                _endpoints(sandbox, without), tls=operator_tls(sandbox.root)
            ) as coordination,
            httpx.AsyncClient(
                timeout=30.0, trust_env=False, verify=operator_verify(sandbox.root)
            ) as http,
        ):
            return await work(coordination, sandbox_peer_client(sandbox.root, http))

    return asyncio.run(main())


def _placement(sandbox: Sandbox, tenant: str = SENDAI, without: str | None = None) -> Placement:
    async def work(coordination: Coordination, _copies: PeerClient) -> Placement:
        placement, _ = await coordination.get_placement(tenant)
        assert placement is not None
        return placement

    return _with(sandbox, work, without)


_tokens: dict[str, str] = {}


def _token(sandbox: Sandbox, site: str, tenant: str = SENDAI) -> str:
    """The tenant admin's bearer token (signed in once: signing in writes too)."""
    if tenant not in _tokens:
        password = sandbox.demo[tenant].admin_password  # type: ignore[attr-defined]
        response = httpx.post(
            f"{_urls(sandbox)[site]}/api/v1/{tenant}/auth/token",
            json={"username": "admin", "password": password},
            timeout=15.0,
            trust_env=False,
            verify=operator_verify(sandbox.root),
        )
        assert response.status_code == 200, response.text
        _tokens[tenant] = response.json()["access_token"]
    return _tokens[tenant]


def _write(sandbox: Sandbox, site: str, tenant: str = SENDAI) -> httpx.Response:
    """One drill probe written at ``site`` as the tenant's admin."""
    return httpx.post(
        f"{_urls(sandbox)[site]}/api/v1/{tenant}/drill-probes",
        json={"id": str(uuid.uuid4()), "payload": "move"},
        headers={"Authorization": f"Bearer {_token(sandbox, site, tenant)}"},
        timeout=15.0,
        trust_env=False,
        verify=operator_verify(sandbox.root),
    )


def _acknowledged_soon(sandbox: Sandbox, site: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while True:
        response = _write(sandbox, site)
        if response.status_code in (200, 201):
            return
        assert time.monotonic() < deadline, (response.status_code, response.text)
        time.sleep(0.3)


def test_writes_during_a_pause_get_a_retryable_503(sandbox: Sandbox) -> None:
    primary = _placement(sandbox).primary
    _acknowledged_soon(sandbox, primary)

    async def pause(_coordination: Coordination, copies: PeerClient) -> int:
        return (await copies.pause(primary, SENDAI, ttl=10.0)).head_seq

    _with(sandbox, pause)
    paused = _write(sandbox, primary)
    assert paused.status_code == 503, paused.text
    assert paused.headers["retry-after"] == "1"
    assert "切り替え" in paused.json()["detail"] and "retry" in paused.json()["detail"]

    async def resume(_coordination: Coordination, copies: PeerClient) -> None:
        await copies.resume(primary, SENDAI)

    _with(sandbox, resume)
    assert _write(sandbox, primary).status_code == 201


def test_a_switchover_under_load_loses_nothing_and_reports_its_pause(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    source = _placement(sandbox).primary

    async def drill() -> tuple[dict[str, Any], MovingWatch]:
        env, watch = await open_environment(sandbox.root)
        assert isinstance(watch, MovingWatch) and env.can_move
        try:
            options = DrillOptions(
                scenario="switchover",
                target=source,
                load=30,
                duration=4,
                tenants=2,
                out_root=tmp_path,
                warmup=1.0,
                settle_timeout=5,
                drain_seconds=5,
            )
            return (await run_drill(options, env)).report, watch
        finally:
            await watch.close()

    report, watch = asyncio.run(drill())
    assert report["acknowledged_writes"] > 50, report
    assert report["lost_acknowledged_writes"] == 0 and report["split_brain_violations"] == 0
    assert report["duplicate_writes"] == 0 and report["digest_mismatches"] == 0
    assert report["ok"] is True, report
    [move] = watch.moves
    assert move.ok and move.source == source and move.target != source
    assert move.pause_seconds is not None and 0 < move.pause_seconds < 1.0, move
    after = _placement(sandbox)
    assert after.primary == move.target and after.epoch == move.epoch
    assert source in after.in_sync  # the old primary had everything: it stays in sync


def test_a_move_opens_no_connection_inside_its_pause(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over TLS a new connection is a handshake at both ends, on a loaded machine hundreds of
    # milliseconds: the watch connects to the sites before it pauses writes. Every
    # replication request of a switchover is inside its pause (before it, only etcd is read).
    handshakes: list[str] = []
    send = httpx.AsyncClient.send

    async def traced(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        async def trace(event: str, _info: dict[str, Any]) -> None:
            if event == "connection.start_tls.started":
                handshakes.append(request.url.path)

        request.extensions["trace"] = trace
        return await send(client, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", traced)
    source = _placement(sandbox).primary

    async def there_and_back() -> list[Any]:
        watch = MovingWatch(_endpoints(sandbox), sandbox.root)
        try:
            await watch.switchover(SENDAI, None)
            await watch.switchover(SENDAI, source)
        finally:
            await watch.close()
        return watch.moves

    moves = asyncio.run(there_and_back())
    assert [m.target for m in moves] == [moves[0].target, source] and moves[0].target != source
    assert handshakes, "the moves were made over TLS"
    assert [path for path in handshakes if path.startswith("/replication/")] == []


def test_a_target_out_of_sync_is_refused_and_nothing_changes(sandbox: Sandbox) -> None:
    before = _placement(sandbox)
    target = before.in_sync[0]

    async def work(coordination: Coordination, copies: PeerClient) -> Placement:
        current, revision = await coordination.get_placement(SENDAI)
        assert current is not None
        lagging = replace(current, in_sync=tuple(s for s in current.in_sync if s != target))
        await coordination.put_placement_if(SENDAI, lagging, revision)
        with pytest.raises(MoveRefused, match="not an in-sync replica"):
            await switchover(coordination, copies, SENDAI, target)
        after, _ = await coordination.get_placement(SENDAI)
        assert after is not None
        return after

    after = _with(sandbox, work)
    assert after.primary == before.primary
    _acknowledged_soon(sandbox, before.primary)  # writes go on at the old primary


def test_an_evacuation_moves_every_primary_off_a_site_and_failback_brings_some_back(
    sandbox: Sandbox,
) -> None:
    site = "aws-tokyo"
    others = [s for s in _urls(sandbox) if s != site]
    codes = asyncio.run(
        place_empty_tenants(_endpoints(sandbox), site, others, 12, tls=operator_tls(sandbox.root))
    )
    time.sleep(3)  # the site's node starts the new tenants' streams

    async def work(coordination: Coordination, copies: PeerClient) -> tuple[Any, ...]:
        evacuation = await request_evacuation(coordination, copies, site, "test", drill=True)
        placements, _ = await coordination.list_placements()
        left = [t for t, p in placements.items() if p.primary == site]
        back = await failback(coordination, copies, site=site)
        placements, _ = await coordination.list_placements()
        return evacuation, left, back, placements

    evacuation, left, back, placements = _with(sandbox, work)
    assert evacuation.ok, [r.reason for r in evacuation.failed]
    assert set(codes) <= {r.tenant for r in evacuation.moved}
    assert left == []
    assert {r.target for r in evacuation.moved} == set(others)  # the load is spread
    assert back and all(r.ok for r in back), [r.reason for r in back if not r.ok]
    assert sum(p.primary == site for p in placements.values()) == len(back)


class _OnlyBatched(PeerClient):
    """Fails a move that asks one tenant at a time: the evacuation must be batched."""

    async def pause(self, site: str, tenant: str, ttl: float = 10.0, wait: float = 5.0) -> Any:
        raise AssertionError(f"single-tenant pause of {tenant}: the batched path was not taken")

    async def seal(self, site: str, tenant: str, epoch: int) -> Any:
        raise AssertionError(f"single-tenant seal of {tenant}: the batched path was not taken")

    async def promote(self, site: str, tenant: str, epoch: int) -> Any:
        raise AssertionError(f"single-tenant promote of {tenant}: the batched path was not taken")


def test_a_batched_evacuation_moves_every_primary_and_loses_nothing(sandbox: Sandbox) -> None:
    site = _placement(sandbox).primary  # Sendai moves too, with writes acknowledged before
    others = [s for s in _urls(sandbox) if s != site]
    asyncio.run(
        place_empty_tenants(
            _endpoints(sandbox), site, others, 40, first=91000, tls=operator_tls(sandbox.root)
        )
    )
    _acknowledged_soon(sandbox, site)
    for _ in range(5):
        assert _write(sandbox, site).status_code == 201
    time.sleep(3)  # the site's node starts the new tenants' streams

    async def work(coordination: Coordination, copies: PeerClient) -> tuple[Any, ...]:
        placements, _ = await coordination.list_placements()
        moving = sorted(t for t, p in placements.items() if p.primary == site)
        before = await copies.status_many(site, moving)
        batched = _OnlyBatched(copies.key, copies.peers, copies.http)
        evacuation = await request_evacuation(
            coordination, batched, site, "test", drill=True, concurrency=16
        )
        placements, _ = await coordination.list_placements()
        after: dict[str, Any] = {}
        for target in others:
            mine = [t for t in moving if placements[t].primary == target]
            after |= await copies.status_many(target, mine) if mine else {}
        return moving, before, evacuation, placements, after

    moving, before, evacuation, placements, after = _with(sandbox, work)
    assert len(moving) > 40 and SENDAI in moving
    assert evacuation.ok, [r.reason for r in evacuation.failed]
    assert {r.tenant for r in evacuation.moved} == set(moving)
    assert all(placements[t].primary in others for t in moving)
    assert all(placements[t].epoch == r.epoch for r in evacuation.moved for t in [r.tenant])
    assert all(r.pause_seconds is not None for r in evacuation.moved)
    for tenant in moving:  # every acknowledged write is at the new primary
        held, had = after[tenant], before[tenant]
        assert not isinstance(held, Exception) and not isinstance(had, Exception)
        assert held.role == "primary" and held.durable_seq >= had.durable_seq, (held, had)
    _acknowledged_soon(sandbox, placements[SENDAI].primary)  # writes go on at the new primary
    _fail_back(sandbox, site)


def _primaries_at(sandbox: Sandbox, site: str) -> list[str]:
    async def work(coordination: Coordination, _copies: PeerClient) -> list[str]:
        placements, _ = await coordination.list_placements()
        return [t for t, p in placements.items() if p.primary == site]

    return _with(sandbox, work)


def _fail_back(sandbox: Sandbox, site: str) -> None:
    async def work(coordination: Coordination, copies: PeerClient) -> None:
        back = await failback(coordination, copies, site=site)
        assert all(r.ok for r in back), [r.reason for r in back if not r.ok]

    _with(sandbox, work)


@pytest.mark.timeout(240)
def test_a_tsunami_alert_evacuates_the_site_it_covers_by_http_and_by_the_cli(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, receiver = "aws-tokyo", "gcp-osaka"
    _fail_back(sandbox, site)
    assert _primaries_at(sandbox, site), "the site must be a primary for the test to mean much"
    sent = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    alert = cap_tsunami(35.68, 139.69, sent=sent)  # a circle around aws-tokyo
    token = (sandbox.root / ALERT_TOKEN_FILE).read_text().strip()

    # HTTP: pushed to another site's node, which answers at once and evacuates behind it.
    answer = httpx.post(
        f"{_urls(sandbox)[receiver]}/alerts/v1/ingest",
        content=alert,
        headers={"Content-Type": "application/xml", "Authorization": f"Bearer {token}"},
        timeout=15.0,
        trust_env=False,
        verify=operator_verify(sandbox.root),
    )
    assert answer.status_code == 200, answer.text
    decided = answer.json()
    assert decided["sites"] == [site] and decided["executed"] is True, decided
    deadline = time.monotonic() + 60
    while left := _primaries_at(sandbox, site):
        assert time.monotonic() < deadline, f"still primary at {site}: {left}"
        time.sleep(0.5)
    _acknowledged_soon(sandbox, receiver)  # Sendai takes writes at its new primary

    # CLI: run on a site host with that site's settings; it evacuates before it returns.
    _fail_back(sandbox, site)
    assert _primaries_at(sandbox, site)
    node = next(r for r in sandbox.state.load() if r.site == receiver and r.role == "node")
    for name in ("YUI_SITE", "YUI_TOPOLOGY_FILE", "YUI_ETCD_ENDPOINTS", "YUI_REPLICATION_KEY_FILE"):
        monkeypatch.setenv(name, node.env[name])
    for name in [name for name in node.env if name.startswith(("YUI_TLS_", "YUI_ETCD_"))]:
        monkeypatch.setenv(name, node.env[name])  # the site's certificate (a sandbox over TLS)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    path = tmp_path / "tsunami.xml"
    path.write_bytes(alert)
    result = CliRunner().invoke(app, ["alerts", "ingest", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["results"] == [
        {"site": site, "error": None}
    ]
    assert _primaries_at(sandbox, site) == []
    _fail_back(sandbox, site)


def test_a_killed_target_aborts_and_the_old_primary_takes_writes_again(
    sandbox: Sandbox,
) -> None:
    before = _placement(sandbox)
    victim = before.in_sync[0]  # its own primaries fail over meanwhile; not this tenant
    try:

        async def work(coordination: Coordination, copies: PeerClient) -> Any:
            real_pause = copies.pause_many

            async def pause_then_kill(site: str, tenants: Any, ttl: float, wait: float) -> Any:
                # the target dies after the writes are paused (and its copy caught up):
                # killed earlier, the pause itself would fail and nothing would move
                paused = await real_pause(site, tenants, ttl, wait)
                sandbox.kill(victim)
                return paused

            copies.pause_many = pause_then_kill  # type: ignore[method-assign]
            return await switchover(coordination, copies, SENDAI, victim)

        result = _with(sandbox, work, victim)
        assert not result.ok and "reinstated" in result.reason, result
        after = _placement(sandbox, without=victim)
        assert after.primary == before.primary and after.epoch > before.epoch
        _acknowledged_soon(sandbox, before.primary)
    finally:
        sandbox.restart(victim)
