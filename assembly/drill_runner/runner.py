"""The drill runner: load on, fault in, wait for the failover, mend, check, report.

It belongs to the composition root (it drives the sandbox through
:class:`~assembly.drill_runner.environment.FaultInjector`); the pure parts — load generator, checker,
report — are in failover.drill. The steps:

1. choose the tenants (those whose primary is at the target first), refuse what cannot run;
2. start the load and a recorder that polls the placements (the primaries' timeline) and
   the target's liveness key (detection);
3. after a warm-up, inject the fault; for site faults wait until every affected tenant's
   primary has left the target, then mend the site (restart after a kill, thaw after a
   freeze: the old primary comes back while the new one serves); for etcd faults hold
   the fault a while, then mend it; a zone loss kills every site of the target's hazard
   zones while a replica elsewhere is slowed; a replica restarted while etcd is down is
   written at through the load (it must refuse its tenants' writes);
4. when the load is over, wait until the copies of each tenant's final placement
   converge (one seq), read every live copy, run the checker with the placements the
   watch saw, write report.json and report.html.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assembly.drill_runner.environment import (
    CannotRun,
    Copies,
    CopyReader,
    FailoverWatch,
    FaultInjector,
    NotWired,
    PlacementSnapshot,
    ServiceWorkload,
)
from assembly.drill_runner.workloads import PROBES, WORKLOADS
from assembly.drill_runner.workloads.checks import add_service_findings
from failover.drill.checker import CheckResult, Finding, PlacementSeen, check
from failover.drill.loadgen import (
    DEFAULT_MIX,
    AuthHeaders,
    LoadConfig,
    SiteEndpoint,
    read_attempts,
    run_load,
)
from failover.drill.report import (
    ATTEMPTS_LOG,
    DrillContext,
    Expectation,
    PrimaryChange,
    build_report,
    new_report_dir,
    percentile,
    write_report,
)

__all__ = [
    "ETCD_SCENARIOS",
    "MINORITY_PARTITION",
    "PARTITIONS",
    "SCENARIOS",
    "SITE_SCENARIOS",
    "SOAK_SCENARIOS",
    "DrillEnvironment",
    "DrillOptions",
    "DrillOutcome",
    "SoakTotals",
    "partition_refusal",
    "run_drill",
    "soak",
]

#: the target and one more site (a replica of the target's first tenant) cut off together
#: from the others: with five sites (five etcd members) the primary keeps two members, a
#: minority — it must fence itself although it still reaches one of its copies — while the
#: majority side promotes another copy (`yui sandbox up --netns --sites 5`)
MINORITY_PARTITION = "minority-partition"
#: fewest sites for a minority partition that leaves the target's side two etcd members
MINORITY_PARTITION_SITES = 5
PARTITIONS = ("partition", MINORITY_PARTITION)
SITE_SCENARIOS = ("site-kill", "site-freeze", "partition", MINORITY_PARTITION, "zone-loss")
ETCD_SCENARIOS = ("etcd-minority", "etcd-down")
MOVE_SCENARIOS = ("switchover", "evacuate")
#: every etcd member stopped, then the node of the target — a site holding replicas — is
#: restarted (it knows no placement) and the load keeps writing at it
REPLICA_RESTART = "replica-restart-etcd-down"
SCENARIOS = (*SITE_SCENARIOS, *ETCD_SCENARIOS, *MOVE_SCENARIOS, REPLICA_RESTART)
#: scenarios in which no placement may change
STEADY_SCENARIOS = (*ETCD_SCENARIOS, REPLICA_RESTART)
#: what `yui drill soak` draws from: the faults the sandbox can inject today (partition only
#: when the sandbox runs in network namespaces)
SOAK_SCENARIOS = (
    "site-kill",
    "site-freeze",
    "partition",
    MINORITY_PARTITION,
    "zone-loss",
    "etcd-minority",
    "etcd-down",
    REPLICA_RESTART,
    "switchover",
    "evacuate",
)
#: the fault that slows a replica (zone-loss): its node is stopped and continued in turns
SLOW_REPLICA = "slow-replica"
POLL_SECONDS = 0.05
#: how long a service workload's client waits for an answer before it tries the next site:
#: a report or a movement does more than a probe (audit, current status, balances), and a
#: phone waits for it longer
SERVICE_REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True)
class DrillOptions:
    scenario: str
    target: str
    load: float = 20.0
    duration: float = 20.0
    tenants: int = 2
    mode: str = "sync"
    out_root: Path = Path("var/drills")
    #: seconds of load before the fault (default: a quarter of the duration, 1–5 s)
    warmup: float | None = None
    #: how long to wait for the failover after the fault, at most
    failover_timeout: float = 30.0
    #: etcd faults: how long the fault lasts (default: a third of the duration, at most 10 s)
    hold: float | None = None
    #: after the load: how long copies may take to converge before they are read (copies
    #: still apart then fail the run: unconverged)
    settle_timeout: float = 60.0
    drain_seconds: float = 10.0
    #: the workload's (inserts, increments, deletes) weights
    mix: tuple[float, float, float] = DEFAULT_MIX
    #: after an etcd fault is mended: how long the runner keeps watching (its view current
    #: again) for a failover the outage may still cause — longer than a site's lease
    observe_seconds: float = 8.0
    #: what the load writes: the drill probe, or a service's own writes
    #: (assembly.drill_runner.workloads)
    workload: str = PROBES

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise CannotRun(
                f"シナリオ {self.scenario!r} はありません / unknown scenario {self.scenario!r} "
                f"(one of: {', '.join(SCENARIOS)})"
            )
        if self.mode not in ("sync", "async"):
            raise CannotRun(
                f"--mode は sync か async / --mode must be sync or async, not {self.mode}"
            )
        if self.tenants < 1:
            raise CannotRun("--tenants は1以上 / --tenants must be at least 1")
        if self.workload not in WORKLOADS:
            raise CannotRun(
                f"負荷の種類 {self.workload!r} はありません / unknown workload {self.workload!r} "
                f"(one of: {', '.join(WORKLOADS)})"
            )
        if not 0 < self.load <= 5000 or not 2 <= self.duration <= 3600:
            raise CannotRun(
                "--load は (0, 5000] 件/秒、--duration は 2〜3600 秒 / --load must be in (0, 5000] "
                "writes/s and --duration in [2, 3600] s"
            )

    @property
    def warmup_seconds(self) -> float:
        if self.warmup is not None:
            return self.warmup
        return min(max(self.duration / 4, 1.0), 5.0)

    @property
    def hold_seconds(self) -> float:
        if self.hold is not None:
            return self.hold
        return min(self.duration / 3, 10.0)


@dataclass
class DrillEnvironment:
    sites: tuple[SiteEndpoint, ...]
    faults: FaultInjector
    watch: FailoverWatch
    copies: CopyReader
    auth: AuthHeaders | None = None
    #: the tenants the load generator can sign in to (None: any)
    writable_tenants: frozenset[str] | None = None
    #: whether the watch can carry out switchovers and evacuations (a controller is wired)
    can_move: bool = False
    #: why the partition drill cannot run here (None: it can; the sandbox runs in namespaces)
    cannot_partition: str | None = field(default_factory=lambda: partition_refusal())
    #: site → its hazard zones (zone-loss kills every site sharing one with the target)
    zones: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: httpx's ``verify`` towards the sites (a sandbox with TLS: its CA and the operator's
    #: certificate)
    verify: ssl.SSLContext | bool = True
    #: the folders where the sites' outgoing e-mail lands (the sandbox's SMTP sinks): the
    #: safety drill reads the residents' one-tap links there, as the residents would
    mailboxes: tuple[Path, ...] = ()


@dataclass
class DrillOutcome:
    report: dict[str, Any]
    directory: Path

    @property
    def exit_code(self) -> int:
        return 0 if self.report.get("ok") else 1


def partition_refusal(reason: tuple[str, str] | None = None) -> str:
    """Why the partition drill cannot run; ``reason`` is (日本語, English), by default that
    the sandbox does not run each site in a network namespace of its own."""
    ja, en = reason or (
        "サンドボックスがサイトごとのネットワーク名前空間で起動されていません"
        "（root で yui sandbox up --netns）",
        "the sandbox does not run each site in a network namespace of its own "
        "(as root: yui sandbox up --netns)",
    )
    return (
        f"分断（partition）訓練は実行できません: {ja}。自サイトのクライアントからは届いたまま他サイトと"
        f" etcd からだけ切り離すには、サイトごとのネットワーク名前空間が必要です / the partition drill "
        f"cannot run: {en}; cutting a site off from the other sites and etcd while its own clients "
        "still reach it needs each site in its own network namespace"
    )


# --------------------------------------------------------------------------- recorder


class _Recorder:
    """Polls the placements and the target's liveness: the primaries' timeline, detection."""

    def __init__(self, watch: FailoverWatch, target: str, tenants: Sequence[str]) -> None:
        self.watch = watch
        self.target = target
        self.tenants = tuple(tenants)
        self.timeline: list[PrimaryChange] = []
        #: every placement (epoch) seen by a poll, with the poll's time
        self.seen: list[PlacementSeen] = []
        self.current: dict[str, PlacementSnapshot | None] = {}
        self.before: dict[str, str | None] = {}
        self.fault_at: float | None = None
        self.detected_at: float | None = None
        self.errors: list[str] = []
        self.changed = asyncio.Event()

    async def poll(self) -> None:
        placements = await self.watch.placements()
        now = time.time()
        for tenant in self.tenants:
            placement = placements.get(tenant)
            old = self.current.get(tenant, _MISSING)
            if placement is not None and (
                old is _MISSING or old is None or old.epoch != placement.epoch
            ):
                self.seen.append(PlacementSeen(tenant, placement.epoch, placement.primary, now))
            if old is _MISSING or _key(old) != _key(placement):
                self.current[tenant] = placement
                self.timeline.append(
                    PrimaryChange(
                        now,
                        tenant,
                        placement.primary if placement else None,
                        placement.epoch if placement else None,
                    )
                )
                self.changed.set()
                moved = placement is not None and placement.primary != self.before.get(tenant)
                if self.fault_at is not None and self.detected_at is None and moved:
                    self.detected_at = now
        if (
            self.fault_at is not None
            and self.detected_at is None
            and await self.watch.site_alive(self.target) is False
        ):
            self.detected_at = time.time()

    def mark_fault(self, at: float) -> None:
        self.fault_at = at
        self.before = {t: (p.primary if p else None) for t, p in self.current.items()}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll()
            except Exception as error:  # keep recording; say it in the report once
                message = f"placement poll failed: {type(error).__name__}: {error}"
                if message not in self.errors:
                    self.errors.append(message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)

    def primaries(self) -> dict[str, str]:
        return {t: p.primary for t, p in self.current.items() if p is not None}

    def members(self) -> dict[str, tuple[str, ...]]:
        """tenant → the sites of its placement now (the copies that must converge)."""
        return {t: (p.primary, *p.replicas) for t, p in self.current.items() if p is not None}

    async def wait_moved_off(
        self, tenants: Sequence[str], sites: str | Sequence[str], within: float
    ) -> bool:
        gone = {sites} if isinstance(sites, str) else set(sites)
        deadline = time.monotonic() + within
        while True:
            if all(
                (p := self.current.get(t)) is not None and p.primary not in gone for t in tenants
            ):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))


_MISSING: Any = object()


def _key(p: PlacementSnapshot | None) -> tuple[str | None, int | None]:
    return (p.primary, p.epoch) if p is not None else (None, None)


# --------------------------------------------------------------------------- the drill


def _choose_tenants(
    options: DrillOptions,
    placements: Mapping[str, PlacementSnapshot],
    env: DrillEnvironment,
) -> tuple[list[str], list[str]]:
    """(chosen tenants, affected tenants) — the target's tenants first."""
    known = [t for t in placements if env.writable_tenants is None or t in env.writable_tenants]
    if not known:
        raise CannotRun(
            "配置が分かる（かつ書き込める）自治体がありません。サンドボックスのデモ自治体と etcd の配置を"
            "確認してください / no tenant with a known placement (and credentials): check the "
            "sandbox's demo tenants and the placements in etcd"
        )
    if options.scenario == REPLICA_RESTART:
        replicated = [
            t
            for t in sorted(known)
            if placements[t].primary != options.target and options.target in placements[t].replicas
        ]
        if not replicated:
            raise CannotRun(
                f"{options.target} を複製先とする自治体がありません（別のターゲットを選ぶ） / no "
                f"tenant has a replica at {options.target} (and its primary elsewhere): choose "
                "another target"
            )
        rest = [t for t in sorted(known) if t not in replicated]
        chosen = (replicated + rest)[: options.tenants]
        return chosen, [t for t in chosen if t in replicated]
    victims = (
        set(zone_sites(options.target, env.zones))
        if options.scenario == "zone-loss"
        else {options.target}
    )
    ordered = sorted(known, key=lambda t: (placements[t].primary not in victims, t))
    chosen = ordered[: options.tenants]
    on_target = [t for t in chosen if placements[t].primary in victims]
    if options.scenario in ETCD_SCENARIOS:
        return chosen, chosen
    if not on_target:
        raise CannotRun(
            f"{options.target} を主系とする自治体がありません（別のターゲットか --tenants を増やす） / "
            f"no tenant has its primary at {options.target}: choose another target or more tenants"
        )
    if options.scenario == "switchover":
        return chosen, on_target[:1]
    return chosen, on_target


def zone_sites(target: str, zones: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The target and every site sharing one of its hazard zones (all lost with the zone)."""
    mine = set(zones.get(target, ()))
    return sorted({target} | {site for site, its in zones.items() if mine & set(its)})


async def _settle(
    env: DrillEnvironment,
    sites: list[str],
    tenants: list[str],
    since: datetime,
    within: float,
    members: Callable[[], Mapping[str, Sequence[str]]],
    workload: ServiceWorkload | None = None,
) -> Copies:
    """Read the copies until the copies of every tenant's placement report one seq, twice
    in a row, or the time is up (the checker then fails the copies still apart:
    unconverged). Each copy is read in one snapshot (its rows are those of the seq its
    digest gives); twice so that the copies, read one after the other, are compared once
    nothing moves. A copy of a placement that could not be read is not settled."""
    deadline = time.monotonic() + within
    previous: dict[tuple[str, str], int] | None = None
    read = (
        env.copies.read
        if workload is None
        else functools.partial(env.copies.read, service=workload.read)
    )
    while True:
        copies = await asyncio.to_thread(read, sites, tenants, since)
        placed = members()
        seqs: dict[str, set[int]] = {}
        for digest in copies.digests:
            if digest.tenant not in placed or digest.site in placed[digest.tenant]:
                seqs.setdefault(digest.tenant, set()).add(digest.seq)
        now = {(d.tenant, d.site): d.seq for d in copies.digests}
        converged = all(len(s) <= 1 for s in seqs.values()) and not _unreadable(copies, placed)
        if (converged and now == previous) or time.monotonic() >= deadline:
            return copies
        previous = now if converged else None
        await asyncio.sleep(0.5)


def _unreadable(copies: Copies, members: Mapping[str, Sequence[str]]) -> list[tuple[str, str, str]]:
    """(tenant, site, why) for each copy of a placement whose site could not be read."""
    return [
        (tenant, site, why)
        for site, why in sorted(copies.unreadable.items())
        for tenant, sites in sorted(members.items())
        if site in sites
    ]


def not_verified(result: CheckResult, copies: Copies, members: Mapping[str, Sequence[str]]) -> None:
    """A copy of a tenant's final placement that could not be read was not shown to hold
    what the primary holds: it fails the run as unconverged, never passes unseen."""
    for tenant, site, why in _unreadable(copies, members):
        result.unconverged.append(
            Finding(
                "unconverged",
                tenant,
                f"the copy at {site} could not be read, so it is not verified: {why}",
                sites=(site,),
            )
        )


async def run_drill(
    options: DrillOptions,
    env: DrillEnvironment,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> DrillOutcome:
    """Run one drill; CannotRun (before any fault) when it cannot run here."""
    site_names = [s.name for s in env.sites]
    if options.target not in site_names:
        raise CannotRun(
            f"サイト {options.target} はありません / no site {options.target} "
            f"(sites: {', '.join(site_names)})"
        )
    if options.scenario in PARTITIONS and env.cannot_partition:
        raise CannotRun(env.cannot_partition)
    if options.scenario == MINORITY_PARTITION and len(site_names) < MINORITY_PARTITION_SITES:
        raise CannotRun(
            f"少数派分断には {MINORITY_PARTITION_SITES} サイトが必要です（yui sandbox up --netns "
            f"--sites {MINORITY_PARTITION_SITES}） / the minority partition needs "
            f"{MINORITY_PARTITION_SITES} sites (yui sandbox up --netns --sites "
            f"{MINORITY_PARTITION_SITES}): with fewer, two sites are not a minority of etcd"
        )
    if options.scenario in MOVE_SCENARIOS and not env.can_move:
        raise NotWired(
            f"{options.scenario} にはフェイルオーバー制御役が必要ですが、まだ接続されていません / "
            f"{options.scenario} needs the failover controller, which is not wired yet"
        )
    live = await asyncio.to_thread(env.faults.live_sites)
    if sorted(live) != sorted(site_names):
        down = sorted(set(site_names) - set(live))
        raise CannotRun(
            f"停止中のサイトがあります: {', '.join(down)}（yui sandbox status） / sites not running: "
            f"{', '.join(down)} (see yui sandbox status)"
        )
    placements = await env.watch.placements()
    tenants, affected = _choose_tenants(options, placements, env)
    notes = [
        f"tenants {', '.join(tenants)} (asked for {options.tenants})"
        if len(tenants) < options.tenants
        else f"tenants {', '.join(tenants)}"
    ]
    slow_site = _slow_replica(options, env, placements, affected)
    modes = sorted({placements[t].mode for t in tenants})
    if modes != [options.mode]:
        notes.append(
            f"placements are in mode {', '.join(modes)}; --mode {options.mode} is recorded, not applied"
        )

    workload = None
    if options.workload != PROBES:
        from assembly.drill_runner.workloads.opening import open_workload

        progress(f"preparing the {options.workload} workload")
        workload = await open_workload(options.workload, env, tenants, f"{int(time.time())}")
        notes += workload.notes

    directory = new_report_dir(options.out_root, options.scenario)
    log_path = directory / ATTEMPTS_LOG
    started = time.time()
    since = datetime.fromtimestamp(started, UTC)
    recorder = _Recorder(env.watch, options.target, tenants)
    await recorder.poll()
    stop = asyncio.Event()
    recording = asyncio.create_task(recorder.run(stop))
    config = LoadConfig(
        sites=env.sites,
        tenants=tuple(tenants),
        rate=options.load,
        duration=options.duration,
        auth=env.auth,
        drain_seconds=options.drain_seconds,
        mix=options.mix,
        # counters of this run only: a past run's counter cannot fail (or hide) this one
        counters=tuple(f"d{int(started)}-{k}" for k in range(2)),
        verify=env.verify,
    )
    if workload is not None:
        config = replace(
            config,
            mix=None,
            writes=workload.write,
            auth=workload.auth,
            request_timeout=SERVICE_REQUEST_TIMEOUT,
        )
    progress(
        f"load: {options.load:g} writes/s for {options.duration:g} s over {len(tenants)} tenants"
    )
    load = asyncio.create_task(run_load(config, log_path))
    expectations: list[Expectation] = []
    outcome = "completed"
    fault_at: float | None = None
    slowed = False
    try:
        if slow_site is not None:  # the replica lags, and may leave the in-sync set, first
            await asyncio.sleep(options.warmup_seconds / 2)
            progress(f"slowing the replica at {slow_site}")
            await asyncio.to_thread(env.faults.inject, SLOW_REPLICA, slow_site)
            slowed = True
            await asyncio.sleep(options.warmup_seconds / 2)
        else:
            await asyncio.sleep(options.warmup_seconds)
        fault_at = time.time()
        recorder.mark_fault(fault_at)
        progress(f"fault: {options.scenario} {options.target}")
        try:
            await _fault_and_mend(options, env, recorder, affected, expectations, progress)
        except CannotRun as error:
            outcome = "failed"
            notes.append(str(error))
        progress("waiting for the load to finish")
        summary = await load
        if workload is not None:  # a client's resend of an acknowledged id: the first answer
            progress("resending acknowledged writes")
            expectations += await workload.resend(read_attempts(log_path))
    finally:
        if slowed and slow_site is not None:
            with contextlib.suppress(CannotRun):
                await asyncio.to_thread(env.faults.recover, SLOW_REPLICA, slow_site)
        if not load.done():
            load.cancel()
            with contextlib.suppress(BaseException):
                await load
        stop.set()
        await recording
    live = await asyncio.to_thread(env.faults.live_sites)
    progress(f"reading copies at {', '.join(sorted(live))}")
    progress(f"waiting up to {options.settle_timeout:g} s for the copies to converge")
    current = await _view_current(env, options.target, options.failover_timeout)
    expectations.append(
        Expectation(
            "配置が最新 / the final placements are current",
            current,
            "the runner's view of etcd was current when the copies were read"
            if current
            else "the runner's view of etcd was not current at the end: the final primaries "
            "(the checker's authority) may be stale",
        )
    )
    await recorder.poll()
    copies = await _settle(
        env, sorted(live), tenants, since, options.settle_timeout, recorder.members, workload
    )
    await recorder.poll()
    ended = time.time()

    attempts = read_attempts(log_path)
    result = check(
        attempts,
        copies.rows,
        primaries=recorder.primaries(),
        digests=copies.digests,
        quarantined=copies.quarantined,
        counters=copies.counters,
        placements=[*env.watch.placement_history(), *recorder.seen],
        members=recorder.members(),
    )
    not_verified(result, copies, recorder.members())
    if workload is not None:  # the content the service stored, and its own rules
        add_service_findings(
            result,
            attempts,
            copies.services,
            primaries=recorder.primaries(),
            expected=workload.expected,
        )
    if options.scenario in STEADY_SCENARIOS and fault_at is not None:
        # a replica restarted while etcd is down: its tenants' primary may fence itself
        # meanwhile (failsafe needs every copy reachable), so writes may pause: not a failure
        _etcd_expectations(
            recorder,
            attempts,
            tenants,
            fault_at,
            options,
            expectations,
            writes_continue=options.scenario != REPLICA_RESTART,
        )
    if options.scenario == REPLICA_RESTART and fault_at is not None:
        expectations.append(_replica_refused(attempts, affected, options.target, fault_at))
    expectations.append(_acknowledged_any(attempts, tenants))
    if slow_site is not None:
        notes.append(f"the replica at {slow_site} was slowed from the warm-up to the failover")
    notes += recorder.errors + copies.notes
    if summary.shed:
        notes.append(
            f"{summary.shed} writes not sent: their tenant already had "
            f"{config.max_in_flight} writes waiting"
        )
    if summary.unacknowledged:
        notes.append(f"{summary.unacknowledged} writes were never acknowledged (not a loss)")
    rejected: dict[int, int] = {}
    for a in attempts:
        if a.final and not a.acknowledged and a.status is not None:
            rejected[a.status] = rejected.get(a.status, 0) + 1
    for status, count in sorted(rejected.items()):
        hint = " (is the drill-probe endpoint mounted?)" if status == 404 and not workload else ""
        notes.append(f"{count} writes refused with HTTP {status}{hint}")
    ctx = DrillContext(
        scenario=options.scenario,
        target=options.target,
        mode=options.mode,
        started_at=started,
        ended_at=ended,
        fault_at=fault_at,
        detected_at=recorder.detected_at,
        affected=tuple(affected),
        expect_move=options.scenario not in STEADY_SCENARIOS,
        tenants=tuple(tenants),
        timeline=recorder.timeline,
        load={
            "workload": options.workload,
            "rate": options.load,
            "duration": options.duration,
            "sites": [s.name for s in env.sites],
            "shed_writes": summary.shed,
        },
        outcome=outcome,
        notes=notes,
        expectations=expectations,
    )
    report = build_report(ctx, attempts, result)
    report["report_dir"] = str(directory)
    write_report(directory, report, ctx, attempts)
    return DrillOutcome(report, directory)


async def _fault_and_mend(
    options: DrillOptions,
    env: DrillEnvironment,
    recorder: _Recorder,
    affected: list[str],
    expectations: list[Expectation],
    progress: Callable[[str], None],
) -> None:
    scenario, target = options.scenario, options.target
    if scenario in MOVE_SCENARIOS:
        if scenario == "switchover":
            await env.watch.switchover(affected[0], None)
        else:
            await env.watch.evacuate(target)
        moved = await recorder.wait_moved_off(affected, target, options.failover_timeout)
        expectations.append(_moved(moved, affected, target))
        return
    if scenario == "zone-loss":
        victims = zone_sites(target, env.zones)
        progress(f"losing the hazard zone of {target}: {', '.join(victims)}")
        for site in victims:
            await asyncio.to_thread(env.faults.inject, "site-kill", site)
        moved = await recorder.wait_moved_off(affected, victims, options.failover_timeout)
        expectations.append(_moved(moved, affected, ", ".join(victims)))
        progress(f"mending {', '.join(victims)}")
        for site in victims:
            await asyncio.to_thread(env.faults.recover, "site-kill", site)
        return
    with_sites = await _minority_companions(env, affected) if scenario == MINORITY_PARTITION else []
    if with_sites:
        progress(f"cutting {target} and {', '.join(with_sites)} off from the other sites")
    await asyncio.to_thread(env.faults.inject, scenario, target, with_sites)
    if scenario in SITE_SCENARIOS:
        progress(f"waiting for {len(affected)} tenants to leave {target}")
        moved = await recorder.wait_moved_off(affected, target, options.failover_timeout)
        expectations.append(_moved(moved, affected, target))
        progress(f"mending {target}")
        await asyncio.to_thread(env.faults.recover, scenario, target, with_sites)
        if scenario in PARTITIONS:
            for site in (target, *with_sites):
                expectations.append(await _rejoined(env, site, options.failover_timeout))
        return
    await asyncio.sleep(options.hold_seconds)
    progress("mending etcd")
    await asyncio.to_thread(env.faults.recover, scenario, target)
    # leases lapsed during the outage: a failover it causes comes after the mend, and the
    # drill must still be watching (with a current view) when it does
    if await _view_current(env, target, options.failover_timeout):
        progress(f"watching {options.observe_seconds:g} s more for a failover")
        await asyncio.sleep(options.observe_seconds)


async def _minority_companions(env: DrillEnvironment, affected: Sequence[str]) -> list[str]:
    """The site cut off with the target: a replica of the first affected tenant, so that
    the old primary still reaches one of its copies (and must fence all the same: it
    cannot reach every copy, and etcd's majority is on the other side)."""
    placements = await env.watch.placements()
    target_side = {placements[t].primary for t in affected if t in placements}
    for tenant in affected:
        for replica in placements[tenant].replicas if tenant in placements else ():
            if replica not in target_side:
                return [replica]
    others = [s.name for s in env.sites if s.name not in target_side]
    return others[:1]


def _slow_replica(
    options: DrillOptions,
    env: DrillEnvironment,
    placements: Mapping[str, PlacementSnapshot],
    affected: Sequence[str],
) -> str | None:
    """zone-loss: the replica outside the lost zone to slow — of the first affected tenant
    that has one (None: every copy is in the zone; the loss is then total)."""
    if options.scenario != "zone-loss":
        return None
    victims = set(zone_sites(options.target, env.zones))
    for tenant in affected:
        outside = [s for s in placements[tenant].replicas if s not in victims]
        if outside:
            return outside[0]
    return None


def _replica_refused(
    attempts: Sequence[Any], affected: Sequence[str], target: str, fault_at: float
) -> Expectation:
    """A replica restarted without etcd must not acknowledge its tenants' writes itself."""
    own = sorted(
        {
            a.tenant
            for a in attempts
            if a.acknowledged
            and a.tenant in affected
            and (a.served_by or a.site) == target
            and a.t >= fault_at
        }
    )
    return Expectation(
        "複製先は書き込みを受け付けない / the restarted replica acknowledged no write itself",
        not own,
        f"{target} acknowledged no write of the tenants it replicates"
        if not own
        else f"{target} acknowledged writes of {', '.join(own)} as if it were the primary",
    )


def _acknowledged_any(attempts: Sequence[Any], tenants: Sequence[str]) -> Expectation:
    """A tenant none of whose writes was acknowledged was checked for nothing: "0 lost of
    0" is no result (the soak of 2026-12-07 passed four runs without a single
    acknowledgement: docs/drills.md, "サインインの殺到")."""
    served = {a.tenant for a in attempts if a.acknowledged}
    silent = sorted(set(tenants) - served)
    return Expectation(
        "書き込みが確認された / the load got writes acknowledged",
        not silent,
        "every tenant of the run had writes acknowledged"
        if not silent
        else f"no write of {', '.join(silent)} was acknowledged: the run checked nothing of it",
    )


async def _view_current(env: DrillEnvironment, site: str, within: float) -> bool:
    """Wait until the watch's view of etcd is current (it can tell whether a site is alive)."""
    deadline = time.monotonic() + within
    while await env.watch.site_alive(site) is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS * 4)
    return True


async def _rejoined(env: DrillEnvironment, target: str, within: float) -> Expectation:
    """After the heal, the cut-off site registers again (it then rejoins as a replica)."""
    deadline = time.monotonic() + within
    while (alive := await env.watch.site_alive(target)) is not True:
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_SECONDS * 4)
    return Expectation(
        "分断されたサイトが戻った / the cut-off site came back",
        alive is True,
        f"{target} registered again after the heal"
        if alive
        else f"{target} did not register again within {within:g} s of the heal",
    )


def _moved(moved: bool, affected: list[str], target: str) -> Expectation:
    return Expectation(
        "主系が移った / primaries moved off the target",
        moved,
        f"{len(affected)} tenants left {target}"
        if moved
        else f"not every tenant left {target} in time (is the failover controller running?)",
    )


def _etcd_expectations(
    recorder: _Recorder,
    attempts: Sequence[Any],
    tenants: Sequence[str],
    fault_at: float,
    options: DrillOptions,
    expectations: list[Expectation],
    *,
    writes_continue: bool = True,
) -> None:
    # a primary that changed (an in-sync set change rewrites the placement, not a failover)
    moved = sorted(
        {
            c.tenant
            for c in recorder.timeline
            if c.t >= fault_at and c.primary != recorder.before.get(c.tenant)
        }
    )
    expectations.append(
        Expectation(
            "フェイルオーバーしない / nothing fails over",
            not moved,
            "placements unchanged" if not moved else f"placements changed: {', '.join(moved)}",
        )
    )
    if not writes_continue:
        return
    window_end = fault_at + options.hold_seconds
    served = {a.tenant for a in attempts if a.acknowledged and fault_at <= a.t_done <= window_end}
    silent = sorted(set(tenants) - served)
    expectations.append(
        Expectation(
            "書き込みが続く / writes keep being acknowledged",
            not silent,
            "every tenant acknowledged writes during the fault"
            if not silent
            else f"no acknowledged write during the fault for {', '.join(silent)}",
        )
    )


# --------------------------------------------------------------------------- soak


SUM_FIELDS = (
    "acknowledged_writes",
    "acknowledged_increments",
    "acknowledged_deletes",
    "lost_acknowledged_writes",
    "lost_updates",
    "resurrected_deletes",
    "duplicate_writes",
    "split_brain_violations",
    "quarantined_entries",
    "digest_mismatches",
    "unconverged_copies",
    "invariant_violations",
)
#: the sums that must be 0 for a soak to pass
MUST_BE_ZERO = (
    "lost_acknowledged_writes",
    "lost_updates",
    "resurrected_deletes",
    "duplicate_writes",
    "split_brain_violations",
    "digest_mismatches",
    "unconverged_copies",
    "invariant_violations",
)


@dataclass
class SoakTotals:
    runs: int = 0
    completed: int = 0
    ok_runs: int = 0
    failed_runs: int = 0
    refused_runs: int = 0
    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUM_FIELDS, 0))
    rtos: list[float] = field(default_factory=list)
    detections: list[float] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    scenarios: dict[str, int] = field(default_factory=dict)

    def add(self, report: Mapping[str, Any]) -> None:
        self.completed += 1
        self.ok_runs += bool(report.get("ok"))
        self.failed_runs += not report.get("ok")
        for name in SUM_FIELDS:
            self.sums[name] += int(report.get(name) or 0)
        rto = report.get("rto_seconds") or {}
        self.rtos += [v for v in (rto.get("per_tenant") or {}).values() if v is not None]
        if report.get("detection_seconds") is not None:
            self.detections.append(float(report["detection_seconds"]))
        if report.get("report_dir"):
            self.reports.append(str(report["report_dir"]))

    @property
    def ok(self) -> bool:
        return self.failed_runs == 0 and not any(self.sums[name] for name in MUST_BE_ZERO)

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "completed": self.completed,
            "ok_runs": self.ok_runs,
            "failed_runs": self.failed_runs,
            "refused_runs": self.refused_runs,
            "ok": self.ok,
            **self.sums,
            "rto_seconds": {
                "p50": percentile(self.rtos, 50),
                "p99": percentile(self.rtos, 99),
                "max": max(self.rtos) if self.rtos else None,
                "samples": len(self.rtos),
            },
            "detection_seconds": {
                "p50": percentile(self.detections, 50),
                "max": max(self.detections) if self.detections else None,
            },
            "scenarios": self.scenarios,
            "refusals": self.refusals,
            "reports": self.reports,
        }


async def soak(
    runs: int,
    base: DrillOptions,
    env: DrillEnvironment,
    *,
    scenarios: Sequence[str] = SOAK_SCENARIOS,
    seed: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> SoakTotals:
    """``runs`` drills back to back, each a random scenario at a random fitting target."""
    rng = random.Random(seed)
    if env.cannot_partition:  # not a failure of the platform: leave it out of the draw
        scenarios = [s for s in scenarios if s not in PARTITIONS] or list(scenarios)
    if len(env.sites) < MINORITY_PARTITION_SITES:
        scenarios = [s for s in scenarios if s != MINORITY_PARTITION] or list(scenarios)
    totals = SoakTotals()
    names = [s.name for s in env.sites]
    for run in range(1, runs + 1):
        totals.runs += 1
        scenario = rng.choice(list(scenarios))
        placements = await env.watch.placements()
        hosting = sorted({p.primary for p in placements.values()} & set(names))
        replicating = sorted(
            {s for p in placements.values() for s in p.replicas if s != p.primary} & set(names)
        )
        if scenario in ETCD_SCENARIOS:
            candidates = names
        elif scenario == REPLICA_RESTART:
            candidates = replicating or names
        else:
            candidates = hosting or names
        target = rng.choice(candidates)
        totals.scenarios[scenario] = totals.scenarios.get(scenario, 0) + 1
        progress(f"run {run}/{runs}: {scenario} {target}")
        try:
            outcome = await run_drill(replace(base, scenario=scenario, target=target), env)
        except CannotRun as error:
            totals.refused_runs += 1
            totals.refusals.append(f"run {run} {scenario} {target}: {error}")
            continue
        totals.add(outcome.report)
    return totals
