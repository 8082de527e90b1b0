"""Where a switchover's write pause goes (issue 12): the drill of tests/failover/controller/
test_moves.py (switchover of Sendai under load) against a running sandbox, with every step
of the move engine and every TCP connect / TLS handshake of its requests timed.

    python bench/switchover_pause.py [--root var/sandbox | --plain] [--runs 5]
                                     [--new-client-per-move] [--timeline]

Each run prints one JSON line: the pause, the load average, the move's TLS handshakes
inside the pause and the seconds it spent connecting there, the handshakes of the drill's
load generator inside the pause (its clients open connections as writes wait), the time
inside the pause with no step in flight (the drill process's own event loop, which the load
generator shares), and each step's seconds. ``--new-client-per-move`` carries the moves out as the drills' watch did before
2026-12-07 (a new HTTP client per move, nothing connected before the pause), to compare.
With ``--root`` it uses that running sandbox (`yui sandbox up --root ...`); without, it
starts its own (TLS, or ``--plain``) in a temporary folder, with the demo tenants, and stops it
at the end. Each run moves Sendai's primary.
"""

# ruff: noqa: E402 - the path is mended before the imports

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/switchover_pause.py`, this file's folder comes first on the path and
# bench/failover.py would hide the `failover` package: take the folder off.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import httpx

from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.runner import DrillOptions, run_drill
from assembly.drill_runner.sandbox_env import MovingWatch, open_environment, sandbox_peer_client
from assembly.sandbox.demo import seed
from assembly.sandbox.plan import operator_verify
from assembly.sandbox.runner import Sandbox
from failover.controller import engine
from failover.controller.moves import switchover
from replication.protocol.client import PeerClient
from yui.errors import YuiError

SENDAI = "041009"
STEPS = ("pause_many", "seal_many", "status_many", "promote_many")

#: (monotonic time, what) of the current run
events: list[tuple[float, str]] = []


def _mark(what: str) -> None:
    events.append((time.monotonic(), what))


def _instrument() -> None:
    """Time the engine's requests and etcd write, and the connections their requests open."""
    send = httpx.AsyncClient.send

    async def traced(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        where = f"{request.url.port}{request.url.path}"

        async def trace(event: str, _info: dict[str, Any]) -> None:
            if event.startswith(("connection.connect_tcp.", "connection.start_tls.")):
                _mark(f"{event} {where}")

        request.extensions["trace"] = trace
        return await send(client, request, **kwargs)

    httpx.AsyncClient.send = traced  # type: ignore[method-assign, assignment]

    def timed(name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def step(*args: Any, **kwargs: Any) -> Any:
            _mark(f"{name} start")
            try:
                return await call(*args, **kwargs)
            finally:
                _mark(f"{name} end")

        return step

    for name in STEPS:
        setattr(PeerClient, name, timed(name, getattr(PeerClient, name)))
    engine.write = timed("etcd_cas", engine.write)  # type: ignore[assignment]


async def _connect_nothing(sites: Collection[str], within: float = 0.0) -> None:
    return None


async def _new_client_per_move(watch: MovingWatch, tenant: str, to: str | None) -> None:
    """The watch's switchover before 2026-12-07, for comparison: a new client, and (since
    the move engine connects before it pauses) its connecting step skipped, so that the
    connections open inside the pause as they did then."""
    await watch._started()
    async with httpx.AsyncClient(
        timeout=30.0, trust_env=False, verify=operator_verify(watch.root)
    ) as http:
        copies = sandbox_peer_client(watch.root, http)
        copies.connect = _connect_nothing  # type: ignore[method-assign]
        try:
            result = await switchover(watch._coordination, copies, tenant, to)
        except YuiError as error:
            raise CannotRun(error.detail) from None
    watch._record([result])


def _breakdown(pause: float) -> dict[str, Any]:
    """The run's events inside the pause (it ends when the promotion answers)."""
    end = max(t for t, what in events if what == "promote_many end")
    start = end - pause
    inside = [(t, what) for t, what in events if start - 0.001 <= t <= end + 0.001]
    spans: dict[str, float] = {}
    opened: dict[str, float] = {}
    busy: list[tuple[float, float]] = []
    connecting = 0.0
    handshakes = load_handshakes = 0
    for t, what in inside:
        name, _, edge = what.rpartition(" ")
        if what.startswith("connection."):
            event, where = what.split(" ", 1)
            mover = "/replication/" in where or where.endswith("/healthz")
            if event == "connection.start_tls.started":
                handshakes += mover
                load_handshakes += not mover
            elif not mover:
                continue
            elif event == "connection.connect_tcp.started":
                opened[where] = t
            elif event == "connection.start_tls.complete" and where in opened:
                connecting += t - opened.pop(where)
        elif edge == "start":
            opened[name] = t
        elif edge == "end" and name in opened:
            began = opened.pop(name)
            spans[name] = round(spans.get(name, 0.0) + t - began, 3)
            busy.append((began, t))
    covered, last = 0.0, start
    for began, ended in sorted(busy):
        began = max(began, last)
        if ended > began:
            covered += ended - began
            last = ended
    return {
        "handshakes": handshakes,
        "connecting_s": round(connecting, 3),
        "load_handshakes": load_handshakes,
        "no_step_in_flight_s": round(pause - covered, 3),
        **{f"{name}_s": seconds for name, seconds in spans.items()},
        "timeline": [(round((t - start) * 1000, 1), what) for t, what in inside],
    }


async def one_run(root: Path, out: Path, new_client_per_move: bool) -> dict[str, Any]:
    events.clear()
    env, watch = await open_environment(root)
    assert isinstance(watch, MovingWatch)
    if new_client_per_move:
        watch.switchover = lambda tenant, to: _new_client_per_move(watch, tenant, to)  # type: ignore[method-assign]
    try:
        placements = await watch.placements()
        options = DrillOptions(  # as tests/failover/controller/test_moves.py's drill
            scenario="switchover",
            target=placements[SENDAI].primary,
            load=30,
            duration=4,
            tenants=2,
            out_root=out,
            warmup=1.0,
            settle_timeout=5,
            drain_seconds=5,
        )
        report = (await run_drill(options, env)).report
    finally:
        await watch.close()
    measured = {
        "mode": "new client per move" if new_client_per_move else "kept client",
        "load_average": round(os.getloadavg()[0], 2),
    }
    if len(watch.moves) != 1 or watch.moves[0].pause_seconds is None:  # the move failed
        return {**measured, "pause_s": None, "notes": report.get("notes"), "timeline": []}
    [move] = watch.moves
    assert move.pause_seconds is not None
    return {
        **measured,
        "move": f"{move.source} -> {move.target}",
        "pause_s": round(move.pause_seconds, 3),
        **_breakdown(move.pause_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root", type=Path, help="a running sandbox (default: start one)")
    parser.add_argument("--plain", action="store_true", help="own sandbox in plain HTTP")
    parser.add_argument("--first-port", type=int, default=18841)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--new-client-per-move", action="store_true")
    parser.add_argument("--timeline", action="store_true", help="print each run's events")
    args = parser.parse_args()
    _instrument()
    with tempfile.TemporaryDirectory(prefix="yui-bench-switchover-") as folder:
        box = None
        if args.root is None:
            box = Sandbox(Path(folder) / "sandbox")
            seed(box.up(first_node_port=args.first_port, tls=not args.plain), residents=50)
        root = args.root.resolve() if box is None else box.root
        try:
            for _ in range(args.runs):
                result = asyncio.run(
                    one_run(root, Path(folder) / "drills", args.new_client_per_move)
                )
                timeline = result.pop("timeline")
                if args.timeline:
                    for at, what in timeline:
                        print(f"  {at:9.1f} ms  {what}", file=sys.stderr)
                print(json.dumps(result, ensure_ascii=False), flush=True)
        finally:
            if box is not None:
                box.down()


if __name__ == "__main__":
    main()
