"""`yui drill run | soak | list | show`: disaster-recovery drills against the running sandbox.

Exit codes: 0 the drill passed; 1 it ran and found a violation (or an expectation failed);
2 it could not run (the message says why). See docs/drills.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from assembly.cli.common import console, fail
from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.runner import (
    PARTITIONS,
    SCENARIOS,
    DrillEnvironment,
    DrillOptions,
    run_drill,
    soak,
)
from assembly.drill_runner.workloads import PROBES, WORKLOADS
from failover.drill.report import REPORT_JSON, list_reports

app = typer.Typer(help="障害訓練 / disaster-recovery drills", no_args_is_help=True)

DEFAULT_ROOT = Path("var/sandbox")
DEFAULT_DRILLS = Path("var/drills")
RootOption = Annotated[Path, typer.Option("--root", help="sandbox folder")]
WorkloadOption = Annotated[
    str,
    typer.Option(
        "--workload",
        help=f"what the load writes: {' | '.join(WORKLOADS)} (docs/drills.md)",
    ),
]
DrillsOption = Annotated[Path, typer.Option("--drills", help="where reports are saved")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON output")]
T = TypeVar("T")

#: the environment factory (tests and the composition root may replace it)
EnvironmentFactory = Callable[[Path], Awaitable[tuple[DrillEnvironment, Any]]]


async def _sandbox_environment(root: Path) -> tuple[DrillEnvironment, Any]:
    from assembly.drill_runner.sandbox_env import open_environment

    return await open_environment(root)


environment_factory: EnvironmentFactory = _sandbox_environment


def _with_environment(root: Path, body: Callable[[DrillEnvironment], Awaitable[T]]) -> T:
    async def main() -> T:
        env, watch = await environment_factory(root)
        try:
            return await body(env)
        finally:
            await watch.close()

    try:
        return asyncio.run(main())
    except CannotRun as error:
        raise fail(str(error), 2) from None


def _progress(quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not quiet:
            console.print(f"[dim]… {line}[/]", highlight=False)

    return say


@app.command("run")
def run(
    scenario: Annotated[str, typer.Option("--scenario", help=f"one of: {', '.join(SCENARIOS)}")],
    target: Annotated[str, typer.Option("--target", help="the site to break, e.g. aws-tokyo")],
    load: Annotated[float, typer.Option("--load", help="writes per second")] = 20.0,
    duration: Annotated[float, typer.Option("--duration", help="seconds of load")] = 20.0,
    tenants: Annotated[int, typer.Option("--tenants", help="how many tenants to load")] = 2,
    mode: Annotated[str, typer.Option("--mode", help="sync | async")] = "sync",
    failover_timeout: Annotated[
        float, typer.Option("--failover-timeout", help="longest wait for the failover (s)")
    ] = 30.0,
    workload: WorkloadOption = PROBES,
    as_json: JsonOption = False,
    root: RootOption = DEFAULT_ROOT,
    drills: DrillsOption = DEFAULT_DRILLS,
) -> None:
    """負荷をかけながら障害を起こし、結果を検査する / run one drill: load, fault, check, report."""
    try:
        options = DrillOptions(
            scenario=scenario,
            target=target,
            load=load,
            duration=duration,
            tenants=tenants,
            mode=mode,
            out_root=drills,
            failover_timeout=failover_timeout,
            workload=workload,
        )
    except CannotRun as error:
        raise fail(str(error), 2) from None
    if scenario in PARTITIONS:  # say why at once, before touching the sandbox
        from assembly.drill_runner.runner import partition_refusal
        from assembly.sandbox.runner import Sandbox

        reason = Sandbox(root.resolve()).partition_refusal()
        if reason is not None:
            raise fail(partition_refusal(reason), 2)
    outcome = _with_environment(
        root, lambda env: run_drill(options, env, progress=_progress(as_json))
    )
    if as_json:
        print(json.dumps(_brief(outcome.report), ensure_ascii=False))
    else:
        _print_report(outcome.report)
    raise typer.Exit(outcome.exit_code)


@app.command("soak")
def soak_(
    runs: Annotated[int, typer.Option("--runs", min=1, help="how many drills")] = 10,
    load: Annotated[float, typer.Option("--load", help="writes per second")] = 20.0,
    duration: Annotated[float, typer.Option("--duration", help="seconds of load per run")] = 10.0,
    tenants: Annotated[int, typer.Option("--tenants")] = 2,
    seed: Annotated[int | None, typer.Option("--seed", help="for a repeatable draw")] = None,
    workload: WorkloadOption = PROBES,
    as_json: JsonOption = False,
    root: RootOption = DEFAULT_ROOT,
    drills: DrillsOption = DEFAULT_DRILLS,
) -> None:
    """ランダムな訓練を続けて実行し合計を出す / randomized drills back to back; prints the totals."""
    try:
        base = DrillOptions(
            scenario="site-kill",
            target="-",
            load=load,
            duration=duration,
            tenants=tenants,
            out_root=drills,
            workload=workload,
        )
    except CannotRun as error:
        raise fail(str(error), 2) from None
    totals = _with_environment(
        root, lambda env: soak(runs, base, env, seed=seed, progress=_progress(as_json))
    )
    summary = totals.to_json()
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        table = Table("項目 / field", "値 / value")
        for key, value in summary.items():
            if key not in ("reports", "refusals"):
                table.add_row(key, json.dumps(value, ensure_ascii=False))
        console.print(table)
        for refusal in totals.refusals:
            console.print(f"[yellow]refused:[/] {refusal}", highlight=False)
    if totals.completed == 0:
        raise typer.Exit(2)
    raise typer.Exit(0 if totals.ok else 1)


@app.command("list")
def list_(drills: DrillsOption = DEFAULT_DRILLS, as_json: JsonOption = False) -> None:
    """訓練報告の一覧（新しい順） / the drill reports, newest first."""
    reports = list_reports(drills)
    if as_json:
        print(json.dumps([r.to_json() for r in reports], ensure_ascii=False))
        return
    if not reports:
        console.print(f"報告はありません / no reports in {drills}")
        return
    table = Table("開始 / started", "シナリオ / scenario", "対象 / target", "結果 / result", "path")
    for r in reports:
        verdict = (
            "[green]PASS[/]"
            if r.ok
            else f"[red]{'FAIL' if r.outcome == 'completed' else r.outcome}[/]"
        )
        table.add_row(r.started_at or "-", r.scenario, r.target, verdict, str(r.path))
    console.print(table)


@app.command("show")
def show(
    report: Annotated[str, typer.Argument(help="report folder, or 'latest'")] = "latest",
    drills: DrillsOption = DEFAULT_DRILLS,
    as_json: JsonOption = False,
) -> None:
    """訓練報告を表示 / show one drill report."""
    if report == "latest":
        found = list_reports(drills)
        if not found:
            raise fail(f"報告はありません / no reports in {drills}", 2)
        folder = found[0].path
    else:
        folder = Path(report)
    try:
        data = json.loads((folder / REPORT_JSON).read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise fail(f"報告を読めません / cannot read the report in {folder}: {error}", 2) from None
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print_report(data)


BRIEF_FIELDS = (
    "scenario",
    "target",
    "mode",
    "outcome",
    "ok",
    "tenants_affected",
    "detection_seconds",
    "rto_seconds",
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
    "expectations",
    "notes",
    "report_dir",
)
#: the rows of the printed table (from tenants_affected to invariant_violations)
TABLE_FIELDS = BRIEF_FIELDS[5 : BRIEF_FIELDS.index("expectations")]


def _brief(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report.get(k) for k in BRIEF_FIELDS}


def _print_report(report: dict[str, Any]) -> None:
    ok = report.get("ok")
    verdict = "[green]合格 / PASS[/]" if ok else "[red]不合格 / FAIL[/]"
    console.print(f"{report.get('scenario')} → {report.get('target')}: {verdict}")
    table = Table("項目 / field", "値 / value")
    for key in TABLE_FIELDS:
        table.add_row(key, json.dumps(report.get(key), ensure_ascii=False))
    console.print(table)
    for expectation in report.get("expectations") or []:
        mark = "[green]OK[/]" if expectation["ok"] else "[red]NG[/]"
        console.print(f"  {mark} {expectation['name']}: {expectation['detail']}", highlight=False)
    for note in report.get("notes") or []:
        console.print(f"  - {note}", highlight=False)
    if report.get("report_dir"):
        console.print(f"報告 / report: {report['report_dir']}/report.html", highlight=False)
