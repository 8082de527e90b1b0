from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from assembly.cli.common import console, fail
from assembly.sandbox.runner import ALERT_TOKEN_FILE, Sandbox, SandboxError
from yui.tls import OPERATOR

app = typer.Typer(
    help="一台で動く3サイトのサンドボックス / the three-site sandbox on one machine",
    no_args_is_help=True,
)

RootOption = Annotated[Path, typer.Option("--root", help="sandbox folder")]
DEFAULT_ROOT = Path("var/sandbox")


def _sandbox(root: Path) -> Sandbox:
    return Sandbox(root.resolve())


@app.command("up")
def up(
    root: RootOption = DEFAULT_ROOT,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="stay until Ctrl-C, then stop everything")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="create the demo municipalities")
    ] = True,
    sites: Annotated[
        int,
        typer.Option(
            "--sites",
            min=3,
            max=5,
            help="3; 4 with oci-fukuoka (restoring copies after a loss); 5 with azure-osaka "
            "(five etcd members: the minority-partition drill)",
        ),
    ] = 3,
    netns: Annotated[
        bool,
        typer.Option(
            "--netns",
            help="each site in its own network namespace (root; needed by the partition drill)",
        ),
    ] = False,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls/--plain",
            help="HTTPS between the sites and to etcd with the sandbox's own CA and certificates "
            "(keys/tls; clients: keys/tls/ca.pem, operator.crt, operator.key); --plain: plain "
            "HTTP, allowed for local development only (YUI_ALLOW_PLAIN_HTTP_PEERS)",
        ),
    ] = True,
) -> None:
    """3サイト（etcd・Redis・S3・サイトノード）を起動する / start three sites with etcd, Redis, S3 and nodes."""
    sandbox = _sandbox(root)
    try:
        with console.status("起動中 / starting…") as status:
            plan = sandbox.up(
                progress=lambda line: status.update(line), sites=sites, netns=netns, tls=tls
            )
            tenants = []
            if demo:
                from assembly.sandbox.demo import seed

                status.update("デモデータ / demo data")
                tenants = seed(plan)
    except SandboxError as error:
        raise fail(str(error)) from None
    for site in plan.sites:  # one line each, so no terminal width ever cuts a URL
        console.print(
            f"  [cyan]{site.name}[/] ({site.provider}; {', '.join(site.hazard_zones)}): {site.url}",
            soft_wrap=True,
        )
    for tenant in tenants:
        console.print(
            f"  {tenant.code} {tenant.name}: primary [cyan]{tenant.placement.primary}[/], "
            f"replicas {', '.join(tenant.placement.replicas)}"
        )
    if tenants:
        console.print(f"  管理者パスワード / admin passwords: {plan.root / 'credentials.txt'}")
        console.print(
            f"  警報受信トークン / alert intake token: {plan.root / ALERT_TOKEN_FILE}"
            " (POST /alerts/v1/ingest)"
        )
    if plan.tls:  # what a client presents to the sites (mutual TLS for replication, etcd)
        operator = plan.tls_files(OPERATOR)
        console.print(
            f"  TLS の CA・操作者の証明書 / TLS CA and operator certificate: {operator.ca}, "
            f"{operator.cert}, {operator.key}",
            soft_wrap=True,
        )
    else:
        console.print("  平文 HTTP（ローカル開発用） / plain HTTP (local development only)")
    console.print(f"  ログ / logs: {plan.root / 'logs'}/<site>/")
    if not foreground:
        console.print("停止は / stop with: yui sandbox down")
        return
    console.print("[bold]Ctrl-C で全て停止 / Ctrl-C stops everything[/]")
    _wait_for_interrupt(sandbox)


def _wait_for_interrupt(sandbox: Sandbox) -> None:
    reported: set[str] = set()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while True:
            for item in sandbox.status():
                if item.state == "crashed" and item.record.name not in reported:
                    reported.add(item.record.name)
                    console.print(
                        f"[red]停止しました / exited:[/] {item.record.name} (log: {item.record.log})"
                    )
            time.sleep(1.0)
    except KeyboardInterrupt:
        console.print("停止中 / stopping…")
    finally:
        for name in sandbox.down():
            console.print(f"  stopped {name}")


@app.command("status")
def status(
    root: RootOption = DEFAULT_ROOT, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """各プロセスの状態 / the state of every process (running, frozen, crashed)."""
    items = _sandbox(root).status()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": i.record.name,
                        "site": i.record.site,
                        "role": i.record.role,
                        "pid": i.record.pid,
                        "port": i.record.port,
                        "host": i.record.host,
                        "state": i.state,
                        "log": i.record.log,
                    }
                    for i in items
                ]
            )
        )
        return
    if not items:
        console.print("起動していません / the sandbox is not up")
        return
    table = Table("プロセス / process", "pid", "port", "状態 / state", "log")
    colours = {"running": "green", "frozen": "yellow", "crashed": "red"}
    for item in items:
        colour = colours.get(item.state, "white")
        table.add_row(
            item.record.name,
            str(item.record.pid),
            str(item.record.port),
            f"[{colour}]{item.state}[/]",
            item.record.log,
        )
    console.print(table)


@app.command("down")
def down(root: RootOption = DEFAULT_ROOT) -> None:
    """全て停止する / stop everything the sandbox started."""
    for name in _sandbox(root).down():
        console.print(f"stopped {name}")


def _fault(action: str, site: str, root: Path) -> None:
    sandbox = _sandbox(root)
    try:
        getattr(sandbox, action)(site)
    except SandboxError as error:
        raise fail(str(error)) from None
    console.print(f"{action} {site}: done")


@app.command("kill")
def kill(site: str, root: RootOption = DEFAULT_ROOT) -> None:
    """サイトの全プロセスに SIGKILL / SIGKILL every process of SITE."""
    _fault("kill", site, root)


@app.command("freeze")
def freeze(site: str, root: RootOption = DEFAULT_ROOT) -> None:
    """SIGSTOP で凍結 / SIGSTOP every process of SITE."""
    _fault("freeze", site, root)


@app.command("thaw")
def thaw(site: str, root: RootOption = DEFAULT_ROOT) -> None:
    """SIGCONT で再開 / SIGCONT every process of SITE."""
    _fault("thaw", site, root)


@app.command("restart")
def restart(site: str, root: RootOption = DEFAULT_ROOT) -> None:
    """止まったプロセスだけを再起動 / start SITE's processes that are not alive again."""
    try:
        notes = _sandbox(root).restart(site)
    except SandboxError as error:
        raise fail(str(error)) from None
    for note in notes:
        console.print(f"  {note}", soft_wrap=True)
    console.print(f"restart {site}: done")


@app.command("partition")
def partition(site: str, root: RootOption = DEFAULT_ROOT) -> None:
    """サイトを他サイトと etcd から切り離す（--netns のみ） / cut SITE off from the other sites and
    etcd; its clients still reach it (sandboxes started with --netns)."""
    _fault("partition", site, root)


@app.command("heal")
def heal(site: str, root: RootOption = DEFAULT_ROOT) -> None:
    """分断を解く / give a partitioned SITE its routes back."""
    _fault("heal", site, root)
