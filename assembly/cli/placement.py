"""`yui placement show | set | rebalance`: tenants' placements in etcd."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from assembly.cli.common import console, fail, settings
from assembly.sandbox.plan import operator_tls
from assembly.sandbox.processes import StateFile
from failover.coordination import connect_etcd
from failover.coordination.interface import Coordination, CoordinationUnavailable, PlacementConflict
from failover.placement.policy import (
    Mode,
    Move,
    Placement,
    Restoration,
    SiteInfo,
    check_placement,
    plan_restoration,
    rebalance,
)
from yui.tls import TlsFiles

T = TypeVar("T")

app = typer.Typer(help="テナントの配置 / where each tenant's copies live", no_args_is_help=True)

EtcdOption = Annotated[
    str | None,
    typer.Option(
        "--etcd", help="host:port,… of etcd (default: YUI_ETCD_ENDPOINTS, else the sandbox's)"
    ),
]
RootOption = Annotated[Path, typer.Option("--root", help="sandbox folder, for its etcd")]


def endpoints(etcd: str | None, root: Path) -> list[str]:
    if etcd:
        return [part.strip() for part in etcd.split(",") if part.strip()]
    configured = settings().etcd_endpoint_list
    if configured:
        return configured
    sandbox = _sandbox_endpoints(root)
    if not sandbox:
        raise fail(
            "etcd が指定されていません / no etcd: give --etcd or YUI_ETCD_ENDPOINTS, or start the sandbox",
            2,
        )
    return sandbox


def _sandbox_endpoints(root: Path) -> list[str]:
    return [f"{r.host}:{r.port}" for r in StateFile(root / "state.json").load() if r.role == "etcd"]


def etcd_tls(etcd: str | None, root: Path) -> TlsFiles | None:
    """How to speak to etcd: the settings' certificate (YUI_ETCD_*), else, when the
    endpoints are the sandbox's, its operator certificate (None: a plain sandbox)."""
    configured = settings()
    if configured.etcd_tls_files is not None:
        return configured.etcd_tls_files
    sandbox = _sandbox_endpoints(root)
    chosen = endpoints(etcd, root) if etcd or configured.etcd_endpoint_list else sandbox
    return operator_tls(root) if sandbox and set(chosen) <= set(sandbox) else None


async def _with_etcd(
    hosts: list[str], work: Callable[[Coordination], Awaitable[T]], tls: TlsFiles | None
) -> T:
    async with connect_etcd(hosts, tls=tls) as coordination:
        return await work(coordination)


def _run(hosts: list[str], work: Callable[[Coordination], Awaitable[T]], tls: TlsFiles | None) -> T:
    try:
        return asyncio.run(_with_etcd(hosts, work, tls))
    except CoordinationUnavailable as error:
        raise fail(error.detail, 1) from None


async def _sites(coordination: Coordination) -> list[SiteInfo]:
    return [record.to_site_info() for record in (await coordination.list_sites()).values()]


@app.command("show")
def show(
    tenant: Annotated[str | None, typer.Option("--tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    etcd: EtcdOption = None,
    root: RootOption = Path("var/sandbox"),
) -> None:
    """配置を表示する / show placements (primary, replicas, in-sync set, mode, epoch)."""

    async def work(coordination: Coordination) -> tuple[dict[str, Placement], list[SiteInfo]]:
        placements, _ = await coordination.list_placements()
        return placements, await _sites(coordination)

    placements, live = _run(endpoints(etcd, root), work, etcd_tls(etcd, root))
    chosen = [p for code, p in sorted(placements.items()) if tenant in (None, code)]
    if tenant and not chosen:
        raise fail(f"テナント {tenant} の配置はありません / no placement for {tenant}", 1)
    # Copies at sites without a lease key count as lost here (the controller waits a grace).
    copies = {p.tenant: plan_restoration(p, live, placements.values()) for p in chosen}
    if as_json:
        print(
            json.dumps(
                [asdict(p) | {"copies": _copies_json(copies[p.tenant])} for p in chosen],
                ensure_ascii=False,
            )
        )
        return
    table = Table(
        "テナント / tenant",
        "主系 / primary",
        "レプリカ / replicas",
        "同期 / in sync",
        "mode",
        "min",
        "ゾーン / zones",
        "epoch",
        "複製数 / copies",
    )
    for p in chosen:
        restoring = copies[p.tenant]
        colour = "red" if restoring.under_replicated else "green"
        table.add_row(
            p.tenant,
            p.primary,
            ", ".join(p.replicas),
            ", ".join(p.in_sync),
            p.mode,
            str(p.min_insync),
            str(p.min_insync_zones),
            str(p.epoch),
            f"[{colour}]{restoring.summary()}[/]",
        )
    console.print(table)


def _copies_json(restoring: Restoration) -> dict[str, object]:
    return {
        "live": list(restoring.live),
        "lost": list(restoring.lost),
        "catching_up": list(restoring.catching_up),
        "replication_factor": restoring.wanted,
        "under_replicated": restoring.under_replicated,
        "restore_at": restoring.target,
        "summary": restoring.summary(),
    }


@app.command("set")
def set_(
    tenant: str,
    mode: Annotated[str | None, typer.Option("--mode", help="sync | async")] = None,
    min_insync: Annotated[int | None, typer.Option("--min-insync", min=0)] = None,
    min_insync_zones: Annotated[
        int | None,
        typer.Option(
            "--min-insync-zones",
            min=1,
            help="主系と同期コピーが何ゾーンの喪失に耐えるか+1（既定2: 主系のゾーンの外に同期コピー、1: 数のみ）"
            " / the primary and its in-sync copies survive the loss of N-1 hazard zones"
            " (default 2: an in-sync copy outside the primary's zones; 1: count only)",
        ),
    ] = None,
    etcd: EtcdOption = None,
    root: RootOption = Path("var/sandbox"),
) -> None:
    """複製モードと最小同期数を変える / change a tenant's mode, min_insync or min_insync_zones.

    The primary moves only by `yui failover switchover` (which seals first); replicas move by
    `rebalance`. The write is a compare-and-swap on the placement's revision.
    """
    if mode not in (None, "sync", "async"):
        raise fail("--mode は sync か async / --mode is sync or async", 2)

    async def work(coordination: Coordination) -> Placement:
        current, revision = await coordination.get_placement(tenant)
        if current is None:
            raise fail(f"テナント {tenant} の配置はありません / no placement for {tenant}", 1)
        new_mode: Mode = "async" if mode == "async" else "sync" if mode == "sync" else current.mode
        new_min = current.min_insync if min_insync is None else min_insync
        new_zones = current.min_insync_zones if min_insync_zones is None else min_insync_zones
        wanted = replace(current, mode=new_mode, min_insync=new_min, min_insync_zones=new_zones)
        if wanted.min_insync > len(wanted.replicas):
            raise fail(f"min_insync {wanted.min_insync} > replicas {len(wanted.replicas)}", 2)
        problems = check_placement(wanted, await _sites(coordination))
        if problems:
            raise fail("; ".join(problems), 2)
        try:
            epoch = await coordination.put_placement_if(tenant, wanted, revision)
        except PlacementConflict:
            raise fail(
                "配置が同時に変更されました。再実行してください / the placement changed meanwhile; run again",
                1,
            ) from None
        return replace(wanted, epoch=epoch)

    result = _run(endpoints(etcd, root), work, etcd_tls(etcd, root))
    console.print(
        f"{tenant}: mode={result.mode} min_insync={result.min_insync}"
        f" min_insync_zones={result.min_insync_zones} epoch={result.epoch}"
    )


@app.command("rebalance")
def rebalance_(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    etcd: EtcdOption = None,
    root: RootOption = Path("var/sandbox"),
) -> None:
    """再配置の計画を表示する / plan the moves that restore the constraints and balance primaries.

    Prints the plan only: switchovers are carried out by `yui failover switchover`, replica
    moves by the controller as replication bootstraps the new copies.
    """

    async def work(coordination: Coordination) -> list[Move]:
        placements, _ = await coordination.list_placements()
        return list(rebalance(placements.values(), await _sites(coordination)))

    moves = _run(endpoints(etcd, root), work, etcd_tls(etcd, root))
    if as_json:
        print(json.dumps([asdict(m) for m in moves], ensure_ascii=False))
        return
    if not moves:
        console.print("均衡しています / balanced: no move needed")
    for move in moves:
        console.print(f"{move.kind} {move.tenant}: {move.source} → {move.target} ({move.reason})")
