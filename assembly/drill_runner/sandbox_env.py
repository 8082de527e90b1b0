"""The drill environment of a running sandbox: its faults, its etcd, its copies, its admins.

- faults are the sandbox's real signals (assembly.sandbox.runner.Sandbox): SIGKILL, SIGSTOP and
  SIGCONT of a site's processes; one etcd member SIGKILLed; every etcd member stopped; a
  site's node restarted while every etcd member is stopped; a replica slowed (its node
  stopped and continued in turns); and, when the sandbox runs in network namespaces
  (``--netns``), a site's route to the other sites removed and put back (partition, heal:
  assembly.sandbox.netns);
- the placements and the sites' liveness keys are read from etcd through a watch-fed
  ClusterView (it keeps answering while etcd is down); every placement revision it
  receives is recorded with the time it arrived (the checker's split-brain rule);
- the copies are each live site's SQLite database (read-only reads);
- the load generator signs in as each demo tenant's admin (credentials.txt, 0600).

Switchover and evacuate drills are carried out by :class:`MovingWatch` (the planned moves
of failover.controller.moves, signed with a sandbox site's replication key); another watch
plugs in with :func:`wire_watch`.
"""

from __future__ import annotations

import asyncio
import re
import signal
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from assembly.drill_runner.environment import (
    CannotRun,
    Copies,
    FailoverWatch,
    NotWired,
    PlacementSnapshot,
    ServiceReader,
)
from assembly.drill_runner.runner import (
    PARTITIONS,
    REPLICA_RESTART,
    SLOW_REPLICA,
    DrillEnvironment,
    partition_refusal,
)
from assembly.drill_runner.snapshot import CopySnapshot, copy_snapshot
from assembly.drill_runner.tokens import TokenCache
from assembly.sandbox import netns, processes
from assembly.sandbox.plan import mail_dir, operator_context, operator_tls, operator_verify
from assembly.sandbox.processes import ProcessRecord
from assembly.sandbox.runner import Sandbox, SandboxError
from failover.controller.engine import MoveResult
from failover.controller.moves import request_evacuation, switchover
from failover.coordination import ClusterEvent, ClusterView, Coordination, connect_etcd
from failover.drill.checker import CopyDigest, PlacementSeen
from failover.drill.copies import quarantined_entries, read_copy, read_counters
from failover.drill.loadgen import SiteEndpoint
from replication.ports import StaticPeers
from replication.protocol.client import PeerClient
from replication.protocol.signing import load_site_key
from yui.db.database import Database
from yui.errors import YuiError
from yui.tls import TlsFiles
from yui.topology import TopologyError, load_topology

__all__ = [
    "EtcdWatch",
    "MovingWatch",
    "SandboxCopies",
    "SandboxFaults",
    "TokenCache",
    "open_environment",
    "read_credentials",
    "sandbox_peer_client",
    "wire_watch",
]

WatchFactory = Callable[[list[str]], FailoverWatch]
_watch_factory: tuple[WatchFactory, bool] | None = None


def wire_watch(factory: WatchFactory | None, *, can_move: bool = True) -> None:
    """The composition root plugs the failover controller's watch in here: ``factory``
    gets the etcd endpoints; ``can_move`` says it carries out switchovers/evacuations."""
    global _watch_factory
    _watch_factory = None if factory is None else (factory, can_move)


# --------------------------------------------------------------------------- faults


#: a slowed replica's node: stopped this long, then running this long, in turns
SLOW_STOPPED_SECONDS = 0.3
SLOW_RUNNING_SECONDS = 0.3


class SandboxFaults:
    def __init__(self, sandbox: Sandbox, *, ready_timeout: float = 60.0) -> None:
        self.sandbox = sandbox
        self.ready_timeout = ready_timeout
        self._slowing: dict[str, tuple[threading.Event, threading.Thread]] = {}

    def inject(self, scenario: str, target: str, with_sites: Sequence[str] = ()) -> None:
        sandbox = self.sandbox
        if scenario == "site-kill":
            sandbox.kill(target)
        elif scenario == "site-freeze":
            sandbox.freeze(target)
        elif scenario == "etcd-minority":
            for record in self._etcd(target):
                processes.send(record.pid, signal.SIGKILL)
        elif scenario == "etcd-down":
            for record in self._etcd(None):
                processes.stop(record.pid, grace=2.0)
        elif scenario == REPLICA_RESTART:
            for record in self._etcd(None):
                processes.stop(record.pid, grace=2.0)
            self._restart_node(target)
        elif scenario == SLOW_REPLICA:
            self._slow(target)
        elif scenario in PARTITIONS:
            reason = sandbox.partition_refusal()
            if reason is not None:
                raise CannotRun(partition_refusal(reason))
            try:
                sandbox.partition(target, with_sites)
            except SandboxError as error:
                raise CannotRun(str(error)) from None
        else:
            raise CannotRun(f"no sandbox fault for {scenario}")

    def recover(self, scenario: str, target: str, with_sites: Sequence[str] = ()) -> None:
        try:
            if scenario == "site-kill":
                self.sandbox.restart(target)
            elif scenario == "site-freeze":
                self.sandbox.thaw(target)
            elif scenario in PARTITIONS:
                self.sandbox.heal(target, with_sites)
            elif scenario == "etcd-minority":
                self._respawn_etcd(target)
            elif scenario in ("etcd-down", REPLICA_RESTART):
                self._respawn_etcd(None)
            elif scenario == SLOW_REPLICA:
                self._unslow(target)
        except SandboxError as error:
            raise CannotRun(f"復旧できません / could not mend {target}: {error}") from None

    def live_sites(self) -> list[str]:
        return sorted(
            s.record.site
            for s in self.sandbox.status()
            if s.record.role == "node" and s.state == "running"
        )

    def _etcd(self, site: str | None) -> list[ProcessRecord]:
        records = [
            r
            for r in self.sandbox.state.load()
            if r.role == "etcd" and (site is None or r.site == site)
        ]
        if not records:
            raise CannotRun(
                f"etcd のプロセスがありません / no etcd process{f' at {site}' if site else ''}"
            )
        return records

    def _restart_node(self, site: str) -> None:
        """The site's node and jobs worker stopped and started again (its etcd member, already
        stopped, stays down): the node starts knowing no placement. Waits until it answers
        HTTP (any status: readiness may well depend on etcd)."""
        records = self.sandbox.state.load()
        mine = [r for r in records if r.site == site and r.role in ("node", "worker")]
        if not any(r.role == "node" for r in mine):
            raise CannotRun(f"{site} のノードがありません / no node process at {site}")
        for record in mine:
            processes.stop(record.pid, grace=2.0)
            processes.spawn(record, cwd=Path.cwd())
            self.sandbox.state.save(records)
        node = next(r for r in mine if r.role == "node")
        deadline = time.monotonic() + self.ready_timeout
        tls = operator_context(self.sandbox.root)
        url = f"{'https' if tls else 'http'}://{node.host}:{node.port}/readyz"
        while not _http_answers(url, tls):
            if time.monotonic() > deadline or processes.state_of(node.pid) == "crashed":
                raise CannotRun(
                    f"{node.name} が再起動しません / {node.name} did not start again; see {node.log}"
                )
            time.sleep(0.1)

    def _slow(self, site: str) -> None:
        """Stop and continue the site's node in turns until :meth:`_unslow`: its replicas lag
        (and may leave the in-sync set) while it stays alive."""
        node = next(
            (r for r in self.sandbox.state.load() if r.site == site and r.role == "node"), None
        )
        if node is None:
            raise CannotRun(f"{site} のノードがありません / no node process at {site}")
        self._unslow(site)
        stop = threading.Event()

        def cycle() -> None:
            while not stop.is_set():
                processes.send(node.pid, signal.SIGSTOP)
                stop.wait(SLOW_STOPPED_SECONDS)
                processes.send(node.pid, signal.SIGCONT)
                stop.wait(SLOW_RUNNING_SECONDS)
            processes.send(node.pid, signal.SIGCONT)

        thread = threading.Thread(target=cycle, name=f"slow-{site}", daemon=True)
        thread.start()
        self._slowing[site] = (stop, thread)

    def _unslow(self, site: str) -> None:
        slowing = self._slowing.pop(site, None)
        if slowing is not None:
            stop, thread = slowing
            stop.set()
            thread.join(timeout=5.0)

    def _respawn_etcd(self, site: str | None) -> None:
        with self.sandbox.state.updating() as records:  # never loses a `yui sandbox` change
            mine = [r for r in records if r.role == "etcd" and (site is None or r.site == site)]
            for record in mine:
                processes.stop(record.pid, grace=1.0)
                processes.spawn(record, cwd=Path.cwd())
                self.sandbox.state.save(records)
        deadline = time.monotonic() + self.ready_timeout
        tls = operator_context(self.sandbox.root)
        for record in mine:
            while not _etcd_healthy(record.host, record.port, tls):
                if time.monotonic() > deadline:
                    raise CannotRun(
                        f"{record.name} が復帰しません / {record.name} not healthy again; "
                        f"see {record.log}"
                    )
                time.sleep(0.1)


def _http_answers(url: str, tls: ssl.SSLContext | None = None) -> bool:
    """Whether anything answers HTTP at ``url`` (an error status counts as an answer)."""
    try:
        # the timeout covers a TLS handshake on a loaded machine
        with urllib.request.urlopen(url, timeout=3.0, context=tls):  # noqa: S310 - the sandbox's loopback
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _etcd_healthy(host: str, port: int | None, tls: ssl.SSLContext | None = None) -> bool:
    if port is None:
        return False
    url = f"{'https' if tls else 'http'}://{host}:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=3.0, context=tls) as response:  # noqa: S310
            return b'"health":"true"' in response.read().replace(b" ", b"")
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------- etcd


class EtcdWatch:
    """Placements and liveness from a watch-fed ClusterView; no planned moves (no controller)."""

    def __init__(self, endpoints: Sequence[str], tls: TlsFiles | None = None) -> None:
        self._coordination: Coordination = connect_etcd(list(endpoints), tls=tls)
        self._view: ClusterView | None = None
        self._seen: set[str] = set()
        self._history: list[PlacementSeen] = []

    async def start(self) -> bool:
        self._view = view = self._coordination.cluster_view()
        view.subscribe(self._received)  # before start: no revision slips between
        loaded = await view.start()
        listed = time.time()
        known = {(p.tenant, p.epoch) for p in self._history}
        self._history += [
            PlacementSeen(t, p.epoch, p.primary, listed)
            for t, p in view.placements().items()
            if (t, p.epoch) not in known
        ]
        return loaded

    def _received(self, event: ClusterEvent) -> None:
        if event.scope == "placement" and event.kind == "put" and event.placement is not None:
            placement = event.placement
            self._history.append(
                PlacementSeen(placement.tenant, placement.epoch, placement.primary, time.time())
            )

    def placement_history(self) -> list[PlacementSeen]:
        return list(self._history)

    @property
    def view(self) -> ClusterView:
        if self._view is None:
            raise RuntimeError("EtcdWatch.start() first")
        return self._view

    async def placements(self) -> Mapping[str, PlacementSnapshot]:
        return {
            tenant: PlacementSnapshot(
                tenant=tenant,
                primary=p.primary,
                epoch=p.epoch,
                replicas=tuple(p.replicas),
                mode=p.mode,
            )
            for tenant, p in self.view.placements().items()
        }

    async def site_alive(self, site: str) -> bool | None:
        view = self.view
        present = view.site(site) is not None
        if present:
            self._seen.add(site)
        if not view.connected or site not in self._seen:
            return None  # etcd unreachable, or the site never registered: cannot tell
        return present

    async def switchover(self, tenant: str, to: str | None) -> None:
        raise NotWired("switchover needs the failover controller (not wired yet)")

    async def evacuate(self, site: str) -> None:
        raise NotWired("evacuate needs the failover controller (not wired yet)")

    async def close(self) -> None:
        if self._view is not None:
            await self._view.close()
        await self._coordination.close()


def sandbox_peer_client(root: Path, http: httpx.AsyncClient) -> PeerClient:
    """Replication's signed client, signing as the sandbox's first site (every site of the
    sandbox trusts every other): what a planned move asks of the copies."""
    try:
        topology = load_topology(root / "topology.toml")
        signer = topology.sites[0].name
        key = load_site_key(signer, root / "keys" / f"{signer}.pem")
    except (TopologyError, OSError, ValueError) as error:
        raise CannotRun(
            f"サンドボックスの鍵が読めません / cannot read the sandbox's replication key under "
            f"{root}: {error}"
        ) from None
    return PeerClient(key, StaticPeers({s.name: s.url for s in topology.sites}), http)


class MovingWatch(EtcdWatch):
    """An etcd watch that also carries out switchovers and evacuations (started lazily).

    Its moves share one HTTP client, closed with the watch; the move engine connects to
    the sites a move will ask before it pauses writes (MoveCopies.connect): every
    replication request of a move falls inside its pause (pause → promotion), and a new
    client per move opened its connections there — a TLS handshake with the source and one
    with the target, 0.1–1.8 s of 0.4–5.5 s pauses at load average 13–19
    (docs/benchmarks.md, "The switchover's pause over TLS").
    """

    def __init__(self, endpoints: Sequence[str], root: Path) -> None:
        super().__init__(endpoints, tls=operator_tls(root))
        self.root = root
        #: every move this watch made, in order
        self.moves: list[MoveResult] = []
        self._copies: PeerClient | None = None

    def _mover(self) -> PeerClient:
        """The moves' signed client over the watch's one HTTP client (made at the first move:
        the sandbox's key and certificates are read once)."""
        if self._copies is None:
            http = httpx.AsyncClient(
                timeout=30.0, trust_env=False, verify=operator_verify(self.root)
            )
            self._copies = sandbox_peer_client(self.root, http)  # no connection opened yet
        return self._copies

    async def _started(self) -> None:
        if self._view is None:
            await self.start()

    async def placements(self) -> Mapping[str, PlacementSnapshot]:
        await self._started()
        return await super().placements()

    async def site_alive(self, site: str) -> bool | None:
        await self._started()
        return await super().site_alive(site)

    async def switchover(self, tenant: str, to: str | None) -> None:
        await self._started()
        try:
            result = await switchover(self._coordination, self._mover(), tenant, to)
        except YuiError as error:
            raise CannotRun(error.detail) from None
        self._record([result])

    async def evacuate(self, site: str) -> None:
        await self._started()
        done = await request_evacuation(
            self._coordination, self._mover(), site, "訓練 / drill", drill=True
        )
        self._record(done.results)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._copies is not None:
                await self._copies.http.aclose()

    def _record(self, results: Sequence[MoveResult]) -> None:
        failed = [r for r in results if not r.ok]
        self.moves += [r for r in results if r.ok and r.epoch is not None]
        if failed:
            raise CannotRun(
                "; ".join(f"{r.tenant}: {r.reason}" for r in failed[:5])
                + f" ({len(failed)} of {len(results)} moves failed)"
            )


# --------------------------------------------------------------------------- sign-in


_CREDENTIAL = re.compile(r"^(\d{6})\s.*?\s(\S+)\s(\S+)\s\(primary\s")


def read_credentials(path: Path) -> dict[str, tuple[str, str]]:
    """tenant → (username, password) from the sandbox's credentials.txt."""
    found: dict[str, tuple[str, str]] = {}
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        match = _CREDENTIAL.match(line)
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


# --------------------------------------------------------------------------- copies


class SandboxCopies:
    def __init__(self, root: Path) -> None:
        self.root = root

    def database(self, site: str) -> Database:
        return Database(f"sqlite:///{(self.root / 'sites' / site / 'yui.db').as_posix()}")

    def read(
        self,
        sites: Sequence[str],
        tenants: Sequence[str],
        since: datetime,
        *,
        service: ServiceReader | None = None,
    ) -> Copies:
        from assembly.drill_runner.workloads.checks import copy_rows
        from assembly.site import all_metadata

        all_metadata()  # every table registered: the digests cover the same tables everywhere
        copies = Copies()
        for site in sites:
            db = self.database(site)
            try:
                # rows, quarantine and digest in one snapshot: a copy still applying entries
                # is read at one seq, never its rows of one moment next to a later seq
                with copy_snapshot(db) as snapshot:
                    if service is None:
                        held = read_copy(snapshot, tenants)
                        counters = read_counters(snapshot, held)
                        services = None
                    else:  # a service workload's records, read as the probes' rows are
                        services = dict(service(snapshot, tenants))
                        held = copy_rows({site: services})[site]
                    quarantined = quarantined_entries(snapshot.connection, held, since=since)
                    digests = _digests(snapshot, site, list(held))
            except Exception as error:
                # one unreadable copy must not hide the others, nor pass unnoticed: the
                # runner counts it as not verified
                reason = f"{type(error).__name__}: {error}".splitlines()[0]
                copies.unreadable[site] = reason
                copies.notes.append(f"copy at {site} unreadable: {reason}")
                continue
            finally:
                db.dispose()
            copies.rows[site] = held
            if services is None:
                copies.counters[site] = counters
            else:
                copies.services[site] = services
            for tenant, count in quarantined.items():
                copies.quarantined[tenant] = copies.quarantined.get(tenant, 0) + count
            copies.digests += digests
        return copies


def _digests(snapshot: CopySnapshot, site: str, tenants: list[str]) -> list[CopyDigest]:
    """Each tenant's digest in the snapshot (a failure fails the whole copy's read: its rows
    without the seq they are at cannot be judged)."""
    from replication.verify.digest import digest_in

    found = []
    for tenant in tenants:
        digest = digest_in(snapshot.connection, tenant)
        found.append(CopyDigest(tenant, site, digest.seq, digest.digest))
    return found


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class _SandboxParts:
    sandbox: Sandbox
    sites: tuple[SiteEndpoint, ...]
    endpoints: list[str]
    credentials: dict[str, tuple[str, str]]
    cannot_partition: str | None
    zones: dict[str, tuple[str, ...]]


def _sandbox_parts(root: Path) -> _SandboxParts:
    sandbox = Sandbox(root.resolve())
    if not sandbox.status():
        raise CannotRun(
            f"サンドボックスが起動していません（yui sandbox up） / the sandbox at {root} is not up: "
            "run `yui sandbox up` first"
        )
    layout = netns.load_layout(sandbox.root)
    try:
        topology = load_topology(sandbox.root / "topology.toml")
    except TopologyError as error:
        raise CannotRun(str(error)) from None
    return _SandboxParts(
        sandbox=sandbox,
        sites=tuple(
            SiteEndpoint(s.name, s.url, layout.site(s.name).namespace if layout else None)
            for s in topology.sites
        ),
        endpoints=[
            f"{r.host}:{r.port}" for r in sandbox.state.load() if r.role == "etcd" and r.port
        ],
        credentials=read_credentials(sandbox.root / "credentials.txt"),
        cannot_partition=None
        if (reason := sandbox.partition_refusal()) is None
        else partition_refusal(reason),
        zones={s.name: tuple(s.hazard_zones) for s in topology.sites},
    )


async def open_environment(root: Path) -> tuple[DrillEnvironment, FailoverWatch]:
    """The environment of the sandbox at ``root`` (close the returned watch when done)."""
    parts = await asyncio.to_thread(_sandbox_parts, root)
    if _watch_factory is not None:
        factory, can_move = _watch_factory
        watch = factory(parts.endpoints)
    else:
        moving = MovingWatch(parts.endpoints, parts.sandbox.root)
        await moving.start()
        watch, can_move = moving, True
    verify = operator_verify(parts.sandbox.root)
    tokens = TokenCache(parts.sites, parts.credentials, verify)
    signed_out = await tokens.prefetch(sorted(parts.credentials))
    env = DrillEnvironment(
        sites=parts.sites,
        faults=SandboxFaults(parts.sandbox),
        watch=watch,
        copies=SandboxCopies(parts.sandbox.root),
        auth=tokens.headers,
        writable_tenants=frozenset(parts.credentials) - set(signed_out),
        can_move=can_move,
        cannot_partition=parts.cannot_partition,
        zones=parts.zones,
        verify=verify,
        mailboxes=tuple(mail_dir(parts.sandbox.root, site.name) for site in parts.sites),
    )
    return env, watch
