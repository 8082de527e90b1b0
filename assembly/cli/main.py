"""The `yui` command: every operator task, grouped by area."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from assembly.cli import alerts, audit, deploy, drill, jobs, placement, sandbox, tenant, user
from assembly.cli import failover as failover_cli
from assembly.cli.common import console, database, fail, settings
from assembly.schema import SCHEMA_HISTORY
from replication import cli as replication_cli
from residents import cli as residents_cli
from residents.directory.service import Directory
from safety_check import cli as safety_cli
from safety_check.pfif import cli as pfif_cli
from supplies import cli as supplies_cli
from yui.http.peer_certificates import PeerCertificateProtocol
from yui.settings import Settings

app = typer.Typer(
    help="結 Yui — 災害に強い自治体サービス基盤 / a disaster-resilient municipal platform",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    # The parts' commands migrate the site's database too; they may not import this root,
    # so it hands them the schema history as their context's object (yui.db.schema).
    context_settings={"obj": SCHEMA_HISTORY},
)
app.add_typer(tenant.app, name="tenant", rich_help_panel="自治体と職員 / Tenants and staff")
app.add_typer(user.app, name="user", rich_help_panel="自治体と職員 / Tenants and staff")
app.add_typer(audit.app, name="audit", rich_help_panel="監査 / Audit")
app.add_typer(residents_cli.app, name="residents", rich_help_panel="住民記録 / Residents")
app.add_typer(safety_cli.app, name="safety", rich_help_panel="安否確認 / Safety confirmation")
# staff scripts read the registry through the kernel's port, as the site's API does
safety_cli.wire_directory(Directory)
safety_cli.app.add_typer(pfif_cli.app, name="pfif")  # yui safety pfif export|import
pfif_cli.wire_directory(Directory)
app.add_typer(supplies_cli.app, name="supplies", rich_help_panel="物資供給 / Relief supplies")
app.add_typer(sandbox.app, name="sandbox", rich_help_panel="サイト / Site")
app.add_typer(deploy.app, name="deploy", rich_help_panel="サイト / Site")
app.add_typer(placement.app, name="placement", rich_help_panel="フェイルオーバー / Failover")
app.add_typer(replication_cli.app, name="replication", rich_help_panel="サイト / Site")
app.add_typer(replication_cli.backup_app, name="backup", rich_help_panel="サイト / Site")
app.add_typer(jobs.app, name="jobs", rich_help_panel="サイト / Site")
app.add_typer(alerts.app, name="alerts", rich_help_panel="フェイルオーバー / Failover")
app.add_typer(drill.app, name="drill", rich_help_panel="フェイルオーバー / Failover")
app.add_typer(failover_cli.app, name="failover", rich_help_panel="フェイルオーバー / Failover")
# An alert that qualifies evacuates through the planned moves (failover.controller.moves).
alerts.wire_trigger(failover_cli.AlertEvacuation)

db_app = typer.Typer(help="データベース / database", no_args_is_help=True)
app.add_typer(db_app, name="db", rich_help_panel="サイト / Site")


@db_app.command("migrate")
def migrate() -> None:
    """スキーマを最新にする / bring the schema to the latest migration."""
    with database():
        pass
    console.print("最新です / at head")


@app.command("run", rich_help_panel="サイト / Site")
def run(
    host: Annotated[str | None, typer.Option(help="default: YUI_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: YUI_PORT")] = None,
) -> None:
    """サイトノードを起動する / run this site's node until Ctrl-C."""
    import uvicorn

    from assembly.site import build_node
    from yui.logging import configure
    from yui.settings import SettingsError

    config = settings()
    configure(config.site, config.log_level, config.log_json)
    try:
        application = build_node(config)
    except SettingsError as error:
        raise fail(str(error), 2) from None
    bind_host, bind_port = host or config.host, port or config.port
    tls = config.tls_files
    console.print(
        f"[bold]Yui[/] site [cyan]{config.site}[/]: {'https' if tls else 'http'}://"
        f"{bind_host}:{bind_port}/  (API docs: /docs, Ctrl-C で停止 / to stop)"
    )
    uvicorn.run(application, **{**uvicorn_options(config), "host": bind_host, "port": bind_port})


def uvicorn_options(config: Settings) -> dict[str, Any]:
    """How `yui run` serves a site node. uvicorn's own X-Forwarded-For handling is off (it
    trusts loopback by default); yui.http.proxies believes only YUI_TRUSTED_PROXIES."""
    tls = config.tls_files
    return {
        "host": config.host,
        "port": config.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        # over TLS, each request tells whether its connection presented a verified
        # client certificate (yui.http.peer_certificates: mutual TLS between sites)
        **({**tls.uvicorn_options(), "http": PeerCertificateProtocol} if tls else {}),
    }


def main() -> None:
    app()
