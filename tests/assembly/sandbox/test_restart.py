"""`yui sandbox restart` is exact: it starts only the site's processes that are not alive
(no duplicates), it does not wait for an etcd member that cannot have a quorum, and
`yui sandbox down` afterwards leaves nothing running. Real processes, really killed."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assembly.sandbox import processes
from assembly.sandbox.processes import ProcessRecord
from assembly.sandbox.runner import Sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.etcd, pytest.mark.timeout(240)]

SITE = "sakura-ishikari"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    if shutil.which("etcd") is None or shutil.which("redis-server") is None:
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail("etcd and redis-server are required (YUI_REQUIRE_SERVERS=1)")
        pytest.skip("etcd or redis-server not installed")
    box = Sandbox(tmp_path / "sandbox")
    box.up(first_node_port=18601)
    try:
        yield box
    finally:
        box.down()


def _is_instance(record: ProcessRecord, argv: list[str], environ: list[str]) -> bool:
    """Whether a process (its argv and environment) is one of ``record``'s, told apart from
    every other on the machine by the port in its arguments, or (node, worker) by its
    command and the sandbox's data folder and site in its environment."""
    port = str(record.port)
    if record.role in ("node", "worker"):
        return (
            argv[-_tail_len(record) :] == record.argv[-_tail_len(record) :]
            and f"YUI_DATA_DIR={record.env['YUI_DATA_DIR']}" in environ
            and f"YUI_SITE={record.site}" in environ
        )
    if record.role == "etcd":
        return "etcd" in argv[0] and any(f"{record.host}:{port}" in word for word in argv)
    if record.role == "redis":  # redis rewrites its title: "redis-server 127.0.0.1:PORT"
        return "redis-server" in argv[0] and any(
            word == port or word.endswith(f":{port}") for word in argv
        )
    return "moto.server" in argv and port in argv


def _tail_len(record: ProcessRecord) -> int:
    return len(record.argv) - 1  # all but the interpreter's path


def _alive_like(record: ProcessRecord) -> list[int]:
    """Every live process on this machine that is an instance of ``record`` (by /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or processes.state_of(int(entry.name)) == "crashed":
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            environ = (entry / "environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        argv = [word for word in argv if word]
        if argv and _is_instance(record, argv, environ):
            found.append(int(entry.name))
    return found


def _pids(box: Sandbox, site: str | None = None) -> dict[str, int | None]:
    return {r.name: r.pid for r in box.state.load() if site is None or r.site == site}


def test_restart_starts_only_what_died_and_down_stops_everything(sandbox: Sandbox) -> None:
    records = {r.name: r for r in sandbox.state.load()}
    seen_pids = set(_pids(sandbox).values())

    # Partly alive: only the node died. The rest of the site keeps running as it was.
    before = _pids(sandbox, SITE)
    processes.send(before[f"{SITE}/node"], signal.SIGKILL)
    time.sleep(0.3)
    sandbox.restart(SITE)
    after = _pids(sandbox, SITE)
    seen_pids |= set(after.values())
    assert after[f"{SITE}/node"] != before[f"{SITE}/node"]
    for name in ("etcd", "redis", "s3", "worker"):
        assert after[f"{SITE}/{name}"] == before[f"{SITE}/{name}"], f"{name} was restarted"
    for name, record in records.items():
        if record.site == SITE:
            assert len(_alive_like(record)) == 1, f"{name}: {_alive_like(record)}"

    # No etcd quorum: every member is gone, and so is the whole site. Its member cannot
    # become ready alone; the restart says so and returns once the node is up.
    sandbox.kill_role("etcd")
    sandbox.kill(SITE)  # returns once they are dead: the restart at once must start them all
    notes = sandbox.restart(SITE)  # waited 60 s for the member, then raised, before
    seen_pids |= set(_pids(sandbox).values())
    assert any("quorum" in note for note in notes), notes
    states = {s.record.name: s.state for s in sandbox.status() if s.record.site == SITE}
    assert set(states.values()) == {"running"}, states
    for name, record in records.items():
        if record.site == SITE:
            assert len(_alive_like(record)) == 1, f"{name}: {_alive_like(record)}"

    sandbox.down()
    deadline = time.monotonic() + 10
    left = {name: _alive_like(record) for name, record in records.items()}
    while any(left.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {name: _alive_like(record) for name, record in records.items()}
    assert not any(left.values()), {name: pids for name, pids in left.items() if pids}
    assert all(processes.state_of(pid) in ("crashed", "stopped") for pid in seen_pids)
