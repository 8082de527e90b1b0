"""Fixtures for coordination tests: a real 3-member etcd cluster and child processes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assembly.sandbox.etcd import LocalEtcdCluster, find_etcd_binary

HOLDER = Path(__file__).with_name("holder.py")


def require_etcd() -> str:
    binary = find_etcd_binary()
    if binary is None:
        reason = "etcd binary not found (apt-get install etcd-server)"
        if os.environ.get("YUI_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{reason}; YUI_REQUIRE_SERVERS=1 requires it")
        pytest.skip(f"{reason}; set YUI_REQUIRE_SERVERS=1 to fail instead of skipping")
    return binary


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[LocalEtcdCluster]:
    """Three etcd members on free loopback ports, data and logs under tmp_path."""
    binary = require_etcd()
    cluster = LocalEtcdCluster(
        tmp_path / "etcd", size=3, binary=binary, strict_reconfig_check=False
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


class Child:
    """A python child process (tests/failover/coordination/holder.py) read line by line."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HOLDER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The next line starting with ``prefix`` (earlier ones are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no line {prefix!r} from child within {timeout} s; output: {self.seen}"
                )
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def drain(self) -> list[str]:
        """Every line printed so far."""
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return list(self.seen)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    children: list[Child] = []

    def start(*args: str) -> Child:
        child = Child(list(args))
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()
