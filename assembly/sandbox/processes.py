"""Processes the sandbox starts, remembered in a state file so any later `yui` call can
signal, inspect or stop them. A crashed process is reported, never silently restarted."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ProcessRecord:
    name: str  # e.g. "aws-tokyo/node"
    site: str
    role: str  # node | etcd | redis | s3 | smtp | worker
    argv: list[str]
    log: str
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    port: int | None = None
    #: the address it listens on (a site's namespace address under `yui sandbox up --netns`)
    host: str = "127.0.0.1"


def spawn(record: ProcessRecord, cwd: Path) -> None:
    """Start the process in its own session (so Ctrl-C of the caller reaches only us)."""
    Path(record.log).parent.mkdir(parents=True, exist_ok=True)
    with open(record.log, "ab") as log:
        log.write(
            f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {' '.join(record.argv)}\n".encode()
        )
        log.flush()
        process = subprocess.Popen(  # noqa: S603 - argv built by the sandbox, no shell
            record.argv,
            cwd=cwd,
            env={**os.environ, **record.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record.pid = process.pid


def state_of(pid: int | None) -> str:
    """running | frozen | crashed | stopped, read from /proc (works for any parent)."""
    if pid is None:
        return "stopped"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return "crashed"
    code = stat.rsplit(")", 1)[1].split()[0]
    return {"T": "frozen", "t": "frozen", "Z": "crashed", "X": "crashed"}.get(code, "running")


def send(pid: int | None, sig: signal.Signals) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def stop(pid: int | None, grace: float = 5.0) -> None:
    """SIGCONT (a frozen process cannot exit), SIGTERM, then SIGKILL after `grace`."""
    stop_all([pid], grace)


def stop_all(pids: Iterable[int | None], grace: float = 5.0) -> None:
    """`stop` for several processes at once: they shut down side by side, so stopping a
    sandbox takes as long as its slowest process, not the sum of them."""
    waiting = [pid for pid in pids if pid is not None and state_of(pid) != "crashed"]
    for pid in waiting:
        send(pid, signal.SIGCONT)
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while waiting and time.monotonic() < deadline:
        for pid in [p for p in waiting if state_of(p) == "crashed"]:
            _reap(pid)
            waiting.remove(pid)
        if waiting:
            time.sleep(0.05)
    for pid in waiting:
        send(pid, signal.SIGKILL)
        _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(pid, os.WNOHANG)


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[ProcessRecord]:
        if not self.path.exists():
            return []
        return [ProcessRecord(**item) for item in json.loads(self.path.read_text())["processes"]]

    def save(self, records: list[ProcessRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"processes": [asdict(r) for r in records]}, indent=2))
        temporary.replace(self.path)

    @contextlib.contextmanager
    def updating(self) -> Iterator[list[ProcessRecord]]:
        """The records, to change in place; saved when the block ends (also on an error:
        what was started is recorded). Holds the state's lock throughout, so two `yui
        sandbox` commands at once never lose each other's processes — a process missing
        from the file is one `yui sandbox down` cannot stop."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            records = self.load()
            try:
                yield records
            finally:
                self.save(records)
