"""`yui failover switchover | evacuate | failback | force-promote`: moves of tenants' primaries.

The command carries the move out itself (failover.controller.moves), each step guarded by
the seal and the placement's compare-and-swap (docs/failover.md, "Planned moves"). It
signs its requests to the sites with a replication key: this site's (YUI_SITE,
YUI_REPLICATION_KEY_FILE, YUI_TOPOLOGY_FILE), else the sandbox's.

Exit codes: 0 done; 1 a move failed or etcd is unreachable; 2 the move cannot be made
(unknown tenant, target not an in-sync replica, no key).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assembly.cli.common import console, fail, settings
from assembly.cli.placement import EtcdOption, RootOption, endpoints, etcd_tls
from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.sandbox_env import sandbox_peer_client
from assembly.sandbox.plan import operator_verify
from failover.alerts.trigger import EvacuationRequest
from failover.controller.engine import MoveResult
from failover.controller.force import ForcePromotion, force_promote
from failover.controller.moves import (
    DEFAULT_CONCURRENCY,
    MoveRefused,
    MoveTrigger,
    UnknownTenant,
    failback,
    request_evacuation,
    switchover,
)
from failover.controller.ports import MoveCopies
from failover.coordination import connect_etcd
from failover.coordination.interface import Coordination, CoordinationUnavailable
from replication.protocol.client import PeerClient
from replication.setup import site_key, topology_peers
from yui.tls import client_verify

app = typer.Typer(
    help="計画的な主系の移動 / planned moves: switchover, evacuation, failback",
    no_args_is_help=True,
)

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="JSON output")]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, help="tenants moved at once")
]
Work = Callable[[Coordination, MoveCopies], Awaitable[T]]


def _client(root: Path, http: httpx.AsyncClient) -> PeerClient:
    if _this_site():
        configured = settings()
        return PeerClient(site_key(configured), topology_peers(configured), http)
    return sandbox_peer_client(root, http)


def _this_site() -> bool:
    """The command speaks as this site (its key and topology), not as the sandbox's operator."""
    configured = settings()
    return configured.replication_key_file is not None and configured.topology_file is not None


def _sites_verify(root: Path) -> ssl.SSLContext | bool:
    """How the command's calls to the sites verify them and what they present: this site's
    certificate (YUI_TLS_*), else the sandbox's operator certificate (mutual TLS)."""
    if _this_site():
        return client_verify(settings().tls_files)
    return operator_verify(root)


def _run(etcd: str | None, root: Path, work: Work[T]) -> T:
    hosts, tls = endpoints(etcd, root), etcd_tls(etcd, root)

    async def main() -> T:
        async with (
            connect_etcd(hosts, tls=tls) as coordination,
            httpx.AsyncClient(timeout=30.0, trust_env=False, verify=_sites_verify(root)) as http,
        ):
            return await work(coordination, _client(root, http))

    try:
        return asyncio.run(main())
    except (UnknownTenant, MoveRefused) as error:
        raise fail(error.detail, 2) from None
    except CannotRun as error:
        raise fail(str(error), 2) from None
    except CoordinationUnavailable as error:
        raise fail(f"etcd に接続できません / etcd unreachable: {error.detail}", 1) from None


class AlertEvacuation:
    """`yui alerts ingest`'s trigger (wired in assembly.cli.main): an alert's evacuation is
    carried out here, by the same moves as `yui failover evacuate`, with etcd and the
    signing key found the same way (YUI_ETCD_ENDPOINTS and this site's key, else the
    sandbox's)."""

    def __init__(self, root: Path = Path("var/sandbox")) -> None:
        self.root = root

    async def evacuate(self, site: str, reason: EvacuationRequest) -> None:
        hosts = endpoints(None, self.root)  # a clear message and exit 2 when there is none
        async with (
            connect_etcd(hosts, tls=etcd_tls(None, self.root)) as coordination,
            httpx.AsyncClient(
                timeout=30.0, trust_env=False, verify=_sites_verify(self.root)
            ) as http,
        ):
            await MoveTrigger(coordination, _client(self.root, http)).evacuate(site, reason)


@contextmanager
def _bar(label: str, quiet: bool) -> Iterator[tuple[Callable[[int], None], Callable[[Any], None]]]:
    """(on_plan, progress) callbacks drawing a rich progress bar (nothing when quiet)."""
    if quiet:
        yield (lambda _n: None), (lambda _r: None)
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(label, total=None, failed=0)
        failed = 0

        def on_plan(total: int) -> None:
            bar.update(task, total=total)

        def progress(result: MoveResult) -> None:
            nonlocal failed
            failed += 0 if result.ok else 1
            bar.update(task, advance=1, failed=failed)

        yield on_plan, progress


def _print_results(results: list[MoveResult]) -> None:
    for r in results:
        if r.ok and r.epoch is not None:
            pause = f"{r.pause_seconds:.3f}" if r.pause_seconds is not None else "-"
            console.print(f"{r.tenant}: {r.source} → {r.target} (epoch {r.epoch}, pause {pause} s)")
        elif not r.ok:
            console.print(f"[red]{r.tenant}: {r.source} → {r.target or '-'}: {r.reason}[/]")


@app.command("switchover")
def switchover_(
    tenant: Annotated[str, typer.Option("--tenant", help="自治体コード / tenant code")],
    to: Annotated[
        str | None, typer.Option("--to", help="new primary (an in-sync replica; default: policy)")
    ] = None,
    as_json: JsonOption = False,
    etcd: EtcdOption = None,
    root: RootOption = Path("var/sandbox"),
) -> None:
    """主系を同期レプリカへ切り替える（無損失） / move a tenant's primary, losing nothing.

    Writes pause at the old primary until the target holds everything; the pause is reported.
    """

    async def work(coordination: Coordination, copies: MoveCopies) -> MoveResult:
        return await switchover(coordination, copies, tenant, to)

    result = _run(etcd, root, work)
    if as_json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    elif result.ok and result.epoch is None:
        console.print(f"{tenant}: {result.target} は既に主系です / already the primary")
    elif result.ok:
        console.print(
            f"{tenant}: {result.source} → {result.target} 切り替え完了 / switched over "
            f"(epoch {result.epoch}); 書き込み停止 / write pause {result.pause_seconds:.3f} s"
        )
    if not result.ok:
        raise fail(f"{tenant}: 切り替えできませんでした / switchover failed: {result.reason}", 1)


@app.command("evacuate")
def evacuate_(
    site: Annotated[str, typer.Option("--site", help="the site to empty of primaries")],
    reason: Annotated[str, typer.Option("--reason", help="why (logged)")] = "operator",
    drill: Annotated[bool, typer.Option("--drill", help="label it a drill")] = False,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    as_json: JsonOption = False,
    etcd: EtcdOption = None,
    root: RootOption = Path("var/sandbox"),
) -> None:
    """サイトから全主系を退避する / move every primary off a site (in parallel, zero loss)."""
    with _bar(f"退避 / evacuating {site}", as_json) as (on_plan, progress):

        async def work(coordination: Coordination, copies: MoveCopies) -> Any:
            return await request_evacuation(
                coordination,
                copies,
                site,
                reason,
                drill,
                concurrency=concurrency,
                progress=progress,
                on_plan=on_plan,
            )

        done = _run(etcd, root, work)
    if as_json:
        print(json.dumps(done.to_json(), ensure_ascii=False))
    else:
        _print_results(done.failed)
        console.print(
            f"{site}: {len(done.moved)} 件退避 / moved, {len(done.failed)} 件失敗 / failed "
            f"in {done.seconds:.2f} s"
        )
    if done.failed:
        raise fail(f"{len(done.failed)} 件のテナントが移せませんでした / tenants not moved", 1)


@app.command("failback")
def failback_(
    site: Annotated[
        str | None, typer.Option("--site", help="only moves toward this (returned) site")
    ] = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    as_json: JsonOption = False,
    etcd: EtcdOption = None,
    root: RootOption = Path("var/sandbox"),
) -> None:
    """配置方針どおりに主系を戻す / move primaries back where the placement policy wants them.

    Carries out the switchovers of `yui placement rebalance` (replica moves are left out).
    """
    with _bar("切り戻し / failing back", as_json) as (on_plan, progress):

        async def work(coordination: Coordination, copies: MoveCopies) -> list[MoveResult]:
            return await failback(
                coordination,
                copies,
                site=site,
                concurrency=concurrency,
                progress=progress,
                on_plan=on_plan,
            )

        results = _run(etcd, root, work)
    failed = [r for r in results if not r.ok]
    if as_json:
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False))
    else:
        _print_results(results)
        if not results:
            console.print("戻す主系はありません / nothing to move back: the primaries are balanced")
    if failed:
        raise fail(f"{len(failed)} 件のテナントが移せませんでした / tenants not moved", 1)


@app.command("force-promote")
def force_promote_(
    tenant: Annotated[str, typer.Argument(help="自治体コード / tenant code")],
    site: Annotated[str, typer.Option("--site", help="the copy to make the primary")],
    accept_data_loss: Annotated[
        bool,
        typer.Option(
            "--accept-data-loss",
            help="確定済みの書き込みを失う可能性を受け入れる / accept that acknowledged writes may be lost",
        ),
    ] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="who decides (default: user@host), recorded")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="why (recorded)")] = "",
    as_json: JsonOption = False,
    etcd: EtcdOption = None,
    root: RootOption = Path("var/sandbox"),
) -> None:
    """同期コピーが残っていないときの強制昇格 / promote a copy that may lack acknowledged writes.

    Only for when no in-sync copy can be sealed (the controller cannot promote). Without
    --accept-data-loss it only reports which seqs would be lost and changes nothing
    (exit 2). With it: seals the copy at a new epoch, writes the placement by
    compare-and-swap with a record in etcd's operator log, and reports the seqs that may
    be lost (docs/runbook.md).
    """

    async def work(coordination: Coordination, copies: MoveCopies) -> ForcePromotion:
        return await force_promote(
            coordination,
            copies,
            tenant,
            site,
            accept_data_loss=accept_data_loss,
            actor=by,
            reason=reason,
        )

    result = _run(etcd, root, work)
    if as_json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        heads = ", ".join(f"{s}={seq}" for s, seq in sorted(result.heads.items()))
        console.print(f"{tenant}: 各コピーの seq / heads: {heads or '-'}", highlight=False)
        if result.unreachable:
            console.print(
                f"{tenant}: 応答なし / no answer: {', '.join(result.unreachable)}", highlight=False
            )
        console.print(f"{tenant}: {result.loss.summary()}", highlight=False)
        if result.applied:
            console.print(
                f"{tenant}: {result.old_primary} → {site} 強制昇格 / force-promoted (epoch "
                f"{result.epoch}); 記録 / recorded in {result.recorded_in}; 同期集合は空から"
                " / the in-sync set restarts empty: writes resume once a replica catches up",
                highlight=False,
            )
    if not result.applied:
        raise fail(
            "何も変更していません。失う可能性を受け入れるなら --accept-data-loss を付けて再実行"
            " / nothing was changed: run again with --accept-data-loss to accept the loss above",
            2,
        )
