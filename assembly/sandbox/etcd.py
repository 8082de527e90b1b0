"""A real, local etcd cluster of N members on loopback ports (sandbox and tests).

Each member is a subprocess of Debian's ``etcd`` binary with its own data
directory and its own log file under the cluster's directory::

    cluster = LocalEtcdCluster(tmp_path / "etcd", size=3)
    cluster.start()                 # waits until every member is healthy
    cluster.endpoints               # ["127.0.0.1:41234", ...] for clients
    cluster.freeze_member(0)        # SIGSTOP: a hung VM
    cluster.thaw_member(0)          # SIGCONT
    cluster.stop_member(1, kill=True)
    cluster.restart_member(1)
    cluster.replace_member(2)       # member remove + member add + fresh data dir
    cluster.stop()

The launcher speaks to etcd only through its HTTP gateway (``/health``,
``/v3/cluster/member/*``), so it needs neither ``etcdctl`` nor a gRPC client.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["EtcdLaunchError", "EtcdMember", "LocalEtcdCluster", "find_etcd_binary", "free_ports"]

_DEFAULT_BINARY = "/usr/bin/etcd"
# etcd 3.4 refuses to start on architectures it does not officially support
# unless told so; amd64 needs nothing.
_SUPPORTED_ARCHES = {"x86_64": "amd64", "amd64": "amd64"}
_GO_ARCH = {"aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}


class EtcdLaunchError(RuntimeError):
    """The cluster (or one member) could not be started, stopped or reconfigured."""


def find_etcd_binary() -> str | None:
    """The ``etcd`` executable on PATH, else Debian's ``/usr/bin/etcd``, else None."""
    found = shutil.which("etcd")
    if found:
        return found
    if os.access(_DEFAULT_BINARY, os.X_OK):
        return _DEFAULT_BINARY
    return None


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the kernel reports free, all held open together so none repeats."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class EtcdMember:
    """One member slot of the cluster; a replacement keeps the slot (index)."""

    index: int
    name: str
    host: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = field(default=None, repr=False)
    frozen: bool = False

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        """``host:port`` of the client (gRPC) listener."""
        return f"{self.host}:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process is not None else None


class LocalEtcdCluster:
    """Starts, breaks and repairs a local etcd cluster; every call is synchronous."""

    def __init__(
        self,
        data_dir: Path | str,
        size: int = 3,
        *,
        host: str = "127.0.0.1",
        binary: str | None = None,
        heartbeat_interval_ms: int = 100,
        election_timeout_ms: int = 1000,
        cluster_token: str = "yui-sandbox",  # noqa: S107 - a cluster name, not a secret
        strict_reconfig_check: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``strict_reconfig_check=False`` lets a cluster younger than 5 s be reconfigured
        (etcd otherwise answers "unhealthy cluster" until every member has been
        connected for 5 s); tests that replace members right after start use it."""
        if size < 1:
            raise ValueError("an etcd cluster needs at least one member")
        self.data_dir = Path(data_dir)
        self.size = size
        self.host = host
        self.binary = binary or find_etcd_binary()
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.election_timeout_ms = election_timeout_ms
        self.cluster_token = cluster_token
        self.strict_reconfig_check = strict_reconfig_check
        self.extra_args = extra_args
        self.members: list[EtcdMember] = []
        self._generation: dict[int, int] = {}

    # ------------------------------------------------------------------ facts

    @property
    def endpoints(self) -> list[str]:
        """``host:port`` of every member's client listener, in slot order."""
        return [member.endpoint for member in self.members]

    @property
    def client_urls(self) -> list[str]:
        return [member.client_url for member in self.members]

    def member(self, index: int) -> EtcdMember:
        try:
            return self.members[index]
        except IndexError:
            raise EtcdLaunchError(f"no etcd member #{index} (cluster of {self.size})") from None

    def log_path(self, index: int) -> Path:
        return self.member(index).log_path

    def is_healthy(self, index: int, timeout: float = 1.0) -> bool:
        member = self.member(index)
        if not member.running or member.frozen:
            return False
        try:
            with urllib.request.urlopen(  # noqa: S310 (our own loopback URL)
                f"{member.client_url}/health", timeout=timeout
            ) as response:
                body: dict[str, Any] = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return str(body.get("health")) == "true"

    def leader_index(self) -> int | None:
        """The slot of the current raft leader, as the first answering member reports."""
        for member in self.members:
            if not member.running or member.frozen:
                continue
            try:
                status = self._post(member, "/v3/maintenance/status", {})
                listing = self._post(member, "/v3/cluster/member/list", {})
            except (OSError, ValueError):
                continue
            leader = str(status.get("leader", ""))
            for entry in listing.get("members", []):
                if str(entry.get("ID")) == leader:
                    urls = entry.get("peerURLs", [])
                    for candidate in self.members:
                        if candidate.peer_url in urls:
                            return candidate.index
        return None

    # --------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 30.0) -> None:
        """Allocate ports, start every member as a new cluster, wait until healthy."""
        if self.binary is None:
            raise EtcdLaunchError("etcd binary not found (apt-get install etcd-server)")
        if self.members:
            raise EtcdLaunchError("cluster already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * self.size, self.host)
        for index in range(self.size):
            self._generation[index] = 0
            self.members.append(
                self._new_member(
                    index, client_port=ports[2 * index], peer_port=ports[2 * index + 1]
                )
            )
        initial_cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        try:
            for member in self.members:
                self._spawn(member, initial_cluster=initial_cluster, state="new")
            self.wait_healthy(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def wait_healthy(self, indexes: list[int] | None = None, timeout: float = 30.0) -> None:
        """Block until the given members (default: every running one) answer /health."""
        wanted = (
            indexes
            if indexes is not None
            else [m.index for m in self.members if m.running and not m.frozen]
        )
        deadline = time.monotonic() + timeout
        pending = list(wanted)
        while pending:
            for index in list(pending):
                member = self.member(index)
                if member.process is not None and member.process.poll() is not None:
                    raise EtcdLaunchError(
                        f"etcd member {member.name} exited with {member.process.returncode}; "
                        f"see {member.log_path}"
                    )
                if self.is_healthy(index):
                    pending.remove(index)
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(self.member(i).name for i in pending)
                raise EtcdLaunchError(f"etcd members not healthy after {timeout:.0f} s: {names}")
            time.sleep(0.1)

    def stop_member(self, index: int, *, kill: bool = False, timeout: float = 10.0) -> None:
        """SIGTERM (or SIGKILL when ``kill``) one member and wait for it to exit."""
        self._signal_stop(self.member(index), kill=kill)
        self._reap(self.member(index), timeout=timeout)

    def _signal_stop(self, member: EtcdMember, *, kill: bool) -> None:
        process = member.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            if member.frozen:
                # A stopped process only acts on SIGTERM once it runs again.
                process.send_signal(signal.SIGCONT)

    def _reap(self, member: EtcdMember, *, timeout: float) -> None:
        process = member.process
        if process is not None:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        member.frozen = False
        member.process = None
        if member.log_file is not None:
            member.log_file.close()
            member.log_file = None

    def freeze_member(self, index: int) -> None:
        """SIGSTOP: the member keeps its sockets open but answers nothing."""
        member = self.member(index)
        if member.process is None or not member.running:
            raise EtcdLaunchError(f"etcd member {member.name} is not running")
        member.process.send_signal(signal.SIGSTOP)
        member.frozen = True

    def thaw_member(self, index: int) -> None:
        """SIGCONT a frozen member."""
        member = self.member(index)
        if member.process is not None and member.running:
            member.process.send_signal(signal.SIGCONT)
        member.frozen = False

    def start_member(self, index: int, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Start a stopped member again on its existing data directory."""
        member = self.member(index)
        if member.running:
            return
        # The data directory already knows the cluster; the flags are ignored.
        initial_cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        self._spawn(member, initial_cluster=initial_cluster, state="existing")
        if wait:
            self.wait_healthy([index], timeout=timeout)

    def restart_member(self, index: int, *, kill: bool = False, timeout: float = 30.0) -> None:
        self.stop_member(index, kill=kill)
        self.start_member(index, timeout=timeout)

    def start_all(self, *, timeout: float = 30.0) -> None:
        """Start every stopped member (their data directories are kept)."""
        for member in self.members:
            if not member.running:
                self.start_member(member.index, wait=False)
        self.wait_healthy(timeout=timeout)

    def replace_member(
        self, index: int, *, new_ports: bool = False, timeout: float = 30.0
    ) -> EtcdMember:
        """Replace a member as after a lost disk: remove, add, start with a fresh data dir.

        The old process is killed if still running. With ``new_ports`` the
        replacement listens on other ports (the endpoints list changes).
        """
        old = self.member(index)
        self.stop_member(index, kill=True)
        others = [m for m in self.members if m.index != index and m.running and not m.frozen]
        if not others:
            raise EtcdLaunchError("no running member left to reconfigure the cluster through")
        old_id = self._member_id(others, old.peer_url)
        if old_id is not None:
            self._member_call(others, "remove", {"ID": old_id}, timeout=timeout)
        self._generation[index] += 1
        if new_ports:
            client_port, peer_port = free_ports(2, self.host)
        else:
            client_port, peer_port = old.client_port, old.peer_port
        new = self._new_member(index, client_port=client_port, peer_port=peer_port)
        answer = self._member_call(others, "add", {"peerURLs": [new.peer_url]}, timeout=timeout)
        self.members[index] = new
        peers: list[str] = []
        for entry in answer.get("members", []):
            urls = entry.get("peerURLs", [])
            name = entry.get("name") or (new.name if new.peer_url in urls else "")
            peers.extend(f"{name}={url}" for url in urls)
        self._spawn(new, initial_cluster=",".join(peers), state="existing")
        self.wait_healthy([index], timeout=timeout)
        return new

    def stop(self) -> None:
        """Stop every member (data directories are kept)."""
        self.stop_all()

    def stop_all(self, *, kill: bool = False, grace: float = 2.0) -> None:
        """Stop every member, one after the other.

        One by one, because a leader told to stop first hands its leadership to
        a live follower. The last member standing may still believe a peer that
        just left is alive and wait for it for 7 s (etcd 3.4's transfer timeout),
        so each member gets ``grace`` seconds before SIGKILL; etcd has synced
        its WAL before acknowledging anything, so nothing acknowledged is lost.
        """
        for member in self.members:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._signal_stop(member, kill=kill)
                self._reap(member, timeout=grace)

    def __enter__(self) -> LocalEtcdCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- helpers

    def _new_member(self, index: int, *, client_port: int, peer_port: int) -> EtcdMember:
        generation = self._generation.get(index, 0)
        name = f"m{index}" if generation == 0 else f"m{index}r{generation}"
        return EtcdMember(
            index=index,
            name=name,
            host=self.host,
            client_port=client_port,
            peer_port=peer_port,
            data_dir=self.data_dir / f"{name}.etcd",
            log_path=self.data_dir / f"{name}.log",
        )

    def _environment(self) -> dict[str, str]:
        # An inherited ETCD_* variable would clash with (or silently change) the flags.
        env = {key: value for key, value in os.environ.items() if not key.startswith("ETCD_")}
        machine = platform.machine().lower()
        if machine not in _SUPPORTED_ARCHES:
            env["ETCD_UNSUPPORTED_ARCH"] = _GO_ARCH.get(machine, machine)
        return env

    def _spawn(self, member: EtcdMember, *, initial_cluster: str, state: str) -> None:
        assert self.binary is not None
        args = [
            self.binary,
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-state={state}",
            f"--initial-cluster-token={self.cluster_token}",
            f"--heartbeat-interval={self.heartbeat_interval_ms}",
            f"--election-timeout={self.election_timeout_ms}",
            f"--strict-reconfig-check={str(self.strict_reconfig_check).lower()}",
            "--logger=zap",
            *self.extra_args,
        ]
        log_file = member.log_path.open("ab")
        log_file.write(f"\n=== {time.strftime('%H:%M:%S')} start {' '.join(args)}\n".encode())
        log_file.flush()
        member.log_file = log_file
        member.process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            args,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=self._environment(),
            start_new_session=True,
        )
        member.frozen = False

    def _post(self, member: EtcdMember, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (our own loopback URL)
            f"{member.client_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5.0) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def _member_id(self, through: list[EtcdMember], peer_url: str) -> str | None:
        answer = self._member_call(through, "list", {}, timeout=10.0)
        for entry in answer.get("members", []):
            if peer_url in entry.get("peerURLs", []):
                return str(entry["ID"])
        return None

    def _member_call(
        self, through: list[EtcdMember], verb: str, body: dict[str, Any], *, timeout: float
    ) -> dict[str, Any]:
        """POST /v3/cluster/member/<verb>, retrying while the cluster settles."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            for member in through:
                try:
                    return self._post(member, f"/v3/cluster/member/{verb}", body)
                except urllib.error.HTTPError as error:
                    last = EtcdLaunchError(
                        f"member {verb} via {member.name}: {error.code} {error.read()!r}"
                    )
                except OSError as error:
                    last = error
            time.sleep(0.2)
        raise EtcdLaunchError(f"member {verb} failed: {last}")
