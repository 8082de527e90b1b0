"""`yui sandbox up | status | down | kill | freeze | thaw | restart`: the whole platform on
one machine, as real processes, so drills can really kill, freeze and cut them off."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import ssl
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from assembly.sandbox import netns, processes
from assembly.sandbox.plan import SandboxPlan, make_plan
from assembly.sandbox.processes import ProcessRecord, StateFile
from replication.protocol.signing import generate_site_keys
from yui.tls import OPERATOR, TlsFiles, generate_pki

#: start order: coordination and brokers first, then the nodes that use them
ROLE_ORDER = ("etcd", "redis", "s3", "smtp", "node", "worker")


#: the file under the sandbox folder holding the alert-intake token
ALERT_TOKEN_FILE = "alert-intake-token"  # noqa: S105 - a file name, not a secret


class SandboxError(RuntimeError):
    pass


@dataclass(frozen=True)
class ProcessStatus:
    record: ProcessRecord
    state: str  # running | frozen | crashed | stopped


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = StateFile(root / "state.json")

    # ------------------------------------------------------------------ lifecycle

    def up(
        self,
        progress: Callable[[str], None] = lambda _: None,
        first_node_port: int = 8401,
        sites: int = 3,
        netns: bool = False,
        tls: bool = True,
    ) -> SandboxPlan:
        """``tls``: HTTPS between the sites and to etcd (client certificates of the
        sandbox's own CA); False: plain HTTP, the local-development allowance."""
        if any(s.state in ("running", "frozen") for s in self.status()):
            raise SandboxError(
                "サンドボックスは起動済みです / the sandbox is already up: `yui sandbox down` first"
            )
        plan = make_plan(self.root, first_node_port, site_count=sites, tls=tls)
        if netns:
            plan = self._enter_namespaces(plan)
        else:
            self._leave_namespaces()
        # Each `up` is a fresh sandbox: ports change, and old etcd members would not rejoin.
        for old in (self.root / "etcd", plan.data_dir, self.root / "logs", plan.keys_dir):
            shutil.rmtree(old, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        plan.topology_file.write_text(plan.topology_toml())
        plan.data_dir.mkdir(parents=True, exist_ok=True)
        secret = plan.data_dir / "token-secret"  # one signing key for all sites of the sandbox
        if not secret.exists():
            secret.touch(mode=0o600)
            secret.write_text(secrets.token_urlsafe(48))
        generate_site_keys(plan.keys_dir, [site.name for site in plan.sites])
        if plan.tls:  # a private CA and each site's certificate, with the Ed25519 keys
            names = [site.name for site in plan.sites]
            hosts = {site.name: urlsplit(site.url).hostname for site in plan.sites}
            generate_pki(plan.tls_dir, names, {n: h for n, h in hosts.items() if h})
        alert_token = _alert_intake_token(plan.root)
        records = sorted(plan.processes(), key=lambda r: ROLE_ORDER.index(r.role))
        for record in records:
            if record.role == "node":
                record.env["YUI_ALERT_INTAKE_TOKEN"] = alert_token
        started: list[ProcessRecord] = []
        try:
            for record in records:
                progress(f"start {record.name}")
                processes.spawn(record, cwd=Path.cwd())
                started.append(record)
                self.state.save(started)
            for record in started:
                self._wait_ready(record)
                progress(f"ready {record.name}")
        except BaseException:
            self.down()
            raise
        return plan

    def down(self) -> list[str]:
        """Stop every process, role by role in the reverse of the start order (workers and
        nodes before the etcd they release their leases in); a role's processes together,
        except etcd's members: one at a time, or a stopping leader waits for a peer that is
        itself stopping to take over (5 s, then SIGKILL)."""
        stopped = []
        with self.state.updating() as records:  # a restart running now finishes first
            for role in reversed(ROLE_ORDER):
                mine = [r for r in reversed(records) if r.role == role]
                for batch in [[r] for r in mine] if role == "etcd" else [mine]:
                    processes.stop_all(r.pid for r in batch)
                stopped += [r.name for r in mine]
            others = [r for r in reversed(records) if r.role not in ROLE_ORDER]
            processes.stop_all(r.pid for r in others)
            stopped += [r.name for r in others]
            records.clear()
        self._leave_namespaces()
        return stopped

    def status(self) -> list[ProcessStatus]:
        return [ProcessStatus(r, processes.state_of(r.pid)) for r in self.state.load()]

    # ------------------------------------------------------------------ faults

    def site_records(self, site: str) -> list[ProcessRecord]:
        records = [r for r in self.state.load() if r.site == site]
        if not records:
            known = sorted({r.site for r in self.state.load()})
            raise SandboxError(
                f"サイト {site} はありません / no site {site} (sites: {', '.join(known) or 'none'})"
            )
        return records

    def kill(self, site: str) -> None:
        _kill_and_wait(self.site_records(site))

    def freeze(self, site: str) -> None:
        for record in self.site_records(site):
            processes.send(record.pid, signal.SIGSTOP)

    def thaw(self, site: str) -> None:
        for record in self.site_records(site):
            processes.send(record.pid, signal.SIGCONT)

    def partition(self, site: str, with_sites: Sequence[str] = ()) -> None:
        """Cut the site off from the other sites and etcd; its clients still reach it.
        ``with_sites`` stay on its side: the sites split into two groups (a minority
        partition), each reaching only its own members."""
        for other in with_sites:
            self.site_records(other)  # raises with the known sites when there is no such site
        group = [site, *(s for s in with_sites if s != site)]
        self._routes(site, lambda layout, _: netns.cut_group(layout, group))

    def heal(self, site: str, with_sites: Sequence[str] = ()) -> None:
        """Give partitioned sites their routes to the other sites back (idempotent)."""
        for member in (site, *with_sites):
            self._routes(member, netns.heal)

    def kill_role(self, role: str) -> None:
        """SIGKILL every process of one role across all sites (e.g. "etcd": etcd-down)."""
        _kill_and_wait([record for record in self.state.load() if record.role == role])

    def restart_role(self, role: str) -> list[str]:
        return self._restart(lambda record: record.role == role)

    def restart(self, site: str) -> list[str]:
        """Start the site's processes that are not alive (after a kill), as they were
        configured; returns what a person should know (日本語 / English lines)."""
        self.site_records(site)  # raises with the known sites when there is no such site
        return self._restart(lambda record: record.site == site)

    def _restart(self, chosen: Callable[[ProcessRecord], bool]) -> list[str]:
        """Only what is not alive is started, and each start is recorded at once: a live
        process is never started twice (a second one fails on its port or runs beside the
        first, and only one of them is in the state file for `down` to stop). A frozen
        process is thawed. An etcd member started while too few members run for a quorum
        is not waited for: it cannot be ready alone, and joins when a quorum is back."""
        notes: list[str] = []
        started: list[ProcessRecord] = []
        with self.state.updating() as records:
            mine = sorted(filter(chosen, records), key=lambda r: ROLE_ORDER.index(r.role))
            for record in mine:
                state = processes.state_of(record.pid)
                if state == "frozen":
                    processes.send(record.pid, signal.SIGCONT)
                    notes.append(f"{record.name}: 再開しました / thawed (it was frozen)")
                if state != "crashed" and state != "stopped":
                    continue
                if record.port is not None and _listening(record.host, record.port):
                    raise SandboxError(
                        f"{record.name} のポート {record.port} は記録にないプロセスが使っています / "
                        f"port {record.port} of {record.name} is taken by a process the sandbox "
                        "did not record: stop it first (nothing was started in its place)"
                    )
                processes.spawn(record, cwd=Path.cwd())
                started.append(record)
                self.state.save(records)
            quorum = _etcd_quorum_possible(records)
        for record in started:
            if record.role == "etcd" and not quorum:
                notes.append(
                    f"{record.name}: 起動しました。etcd メンバーの過半数が動くまで準備完了になりません"
                    "（待たずに続けます） / started; it waits for a quorum of etcd members to be "
                    "running again before it is ready (not waited for)"
                )
                continue
            self._wait_ready(record)
        return notes

    # ------------------------------------------------------------------ namespaces

    def partition_refusal(self) -> tuple[str, str] | None:
        """Why this sandbox cannot be partitioned, as (日本語, English); None when it can."""
        reason = netns.unavailable()
        if reason is None and netns.load_layout(self.root) is None:
            return (
                "サンドボックスがネットワーク名前空間なしで起動されています（yui sandbox down の後 "
                "yui sandbox up --netns）",
                "the sandbox does not run in network namespaces (yui sandbox down, then "
                "yui sandbox up --netns)",
            )
        return reason

    def _enter_namespaces(self, plan: SandboxPlan) -> SandboxPlan:
        reason = netns.unavailable()
        if reason is not None:
            raise SandboxError(f"--netns: {reason[0]} / {reason[1]}")
        self._leave_namespaces()
        layout = netns.plan_layout(self.root, [site.name for site in plan.sites])
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / netns.LAYOUT_FILE).write_text(layout.to_json())  # first: down cleans up
        try:
            netns.create(layout)
        except netns.NetnsError as error:
            self._leave_namespaces()
            raise SandboxError(str(error)) from None
        return netns.relocate(plan, layout)

    def _leave_namespaces(self) -> None:
        """Remove this sandbox's namespaces and veths, if any (idempotent; after crashes too)."""
        layout = netns.load_layout(self.root)
        if layout is not None:
            netns.destroy(layout.short)
            (self.root / netns.LAYOUT_FILE).unlink(missing_ok=True)

    def _routes(self, site: str, change: Callable[[netns.NetLayout, str], None]) -> None:
        layout = self._layout(site)
        try:
            change(layout, site)
        except netns.NetnsError as error:
            raise SandboxError(str(error)) from None

    def _layout(self, site: str) -> netns.NetLayout:
        self.site_records(site)  # raises with the known sites when there is no such site
        reason = self.partition_refusal()
        layout = netns.load_layout(self.root)
        if reason is not None or layout is None:
            ja, en = reason or ("", "")
            raise SandboxError(f"分断できません: {ja} / cannot partition: {en}")
        return layout

    # ------------------------------------------------------------------ helpers

    def _wait_ready(self, record: ProcessRecord, timeout: float = 60.0) -> None:
        tls = _tls_of(record)
        url = {
            "node": f"{'https' if tls else 'http'}://{record.host}:{record.port}/readyz",
            "etcd": f"{'https' if tls else 'http'}://{record.host}:{record.port}/health",
            "s3": f"http://{record.host}:{record.port}/moto-api/",
        }.get(record.role)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if processes.state_of(record.pid) == "crashed":
                raise SandboxError(
                    f"{record.name} は起動に失敗しました / {record.name} exited; see {record.log}"
                )
            if record.role == "worker":  # no port: running is ready (its log says more)
                return
            if record.role == "redis" and record.port is not None:
                if _redis_ping(record.port, record.host):
                    return
            elif record.role == "smtp" and record.port is not None:
                if _smtp_greets(record.port, record.host):
                    return
            elif url is not None and _http_ok(url, tls):
                return
            time.sleep(0.1)
        raise SandboxError(
            f"{record.name} が応答しません / {record.name} not ready after {timeout:.0f} s; see {record.log}"
        )


def _kill_and_wait(records: list[ProcessRecord], timeout: float = 5.0) -> None:
    """SIGKILL, then wait until they are gone: a restart right after sees them dead (and
    starts them), never still running (and leaves them to die)."""
    for record in records:
        processes.send(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        processes.state_of(record.pid) in ("running", "frozen") for record in records
    ):
        time.sleep(0.02)


def _etcd_quorum_possible(records: list[ProcessRecord]) -> bool:
    """More than half of the sandbox's etcd members are running (frozen ones do not vote)."""
    members = [r for r in records if r.role == "etcd"]
    running = sum(1 for r in members if processes.state_of(r.pid) == "running")
    return running > len(members) // 2


def _listening(host: str, port: int) -> bool:
    """Something accepts connections on the port (a refused connection: nothing does)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _tls_of(record: ProcessRecord) -> ssl.SSLContext | None:
    """The context that speaks to a node or etcd member started with TLS (None: plain)."""
    ca = record.env.get("YUI_TLS_CA_FILE") or next(
        (arg.split("=", 1)[1] for arg in record.argv if arg.startswith("--trusted-ca-file=")), None
    )
    if not ca:
        return None
    directory = Path(ca).parent
    files = TlsFiles(Path(ca), directory / f"{OPERATOR}.crt", directory / f"{OPERATOR}.key")
    return files.client_context()


def _http_ok(url: str, tls: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0, context=tls) as response:  # noqa: S310 - our loopback URL
            if url.endswith("/health"):
                return bool(json.loads(response.read()).get("health") == "true")
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def _smtp_greets(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1.0) as connection:
            return connection.recv(3) == b"220"
    except OSError:
        return False


def _redis_ping(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _alert_intake_token(root: Path) -> str:
    """The sandbox's alert-intake token (`POST /alerts/v1/ingest`), kept for the operator
    in ``alert-intake-token`` (mode 600), generated once per sandbox folder."""
    path = root / ALERT_TOKEN_FILE
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()
