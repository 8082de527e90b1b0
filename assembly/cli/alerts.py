"""`yui alerts ingest FILE.xml`: parse a CAP 1.2 / JMA alert and decide which sites to evacuate.

The decision is failover.alerts.decide (pure). Carrying it out is the planned moves'
evacuation: the composition root (assembly.cli.main) registers it with :func:`wire_trigger`.
Without one wired, the command says what WOULD be evacuated and that nothing was done.

Like `POST /alerts/v1/ingest`, the command also tells the tenants this site is the primary
of (safety confirmation's campaigns), when the site's database is here: YUI_DATABASE_URL,
or the default SQLite file of the site. Not with --dry-run or --no-tenants.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from assembly.cli.common import console, errors, fail
from failover.alerts import EvacuationSettings, EvacuationTrigger, intake
from failover.alerts.announce import Announcement, announce
from yui.hazard_alerts import MAX_ALERT_BYTES, Alert, AlertError, parse_alert
from yui.settings import Settings, SettingsError, load_settings
from yui.topology import SiteSpec, TopologyError, load_topology

app = typer.Typer(help="警報の受信と退避 / alert intake and evacuation", no_args_is_help=True)

#: where `yui sandbox up` writes its topology; the fallback when YUI_TOPOLOGY_FILE is unset
SANDBOX_TOPOLOGY = Path("var/sandbox/topology.toml")

TriggerFactory = Callable[[], EvacuationTrigger]
_trigger_factory: TriggerFactory | None = None


def wire_trigger(factory: TriggerFactory | None) -> None:
    """The composition root plugs the failover controller in here (None unplugs it)."""
    global _trigger_factory
    _trigger_factory = factory


def _sites(topology: Path | None) -> tuple[SiteSpec, ...]:
    path = topology
    if path is None:
        try:
            path = load_settings().topology_file
        except SettingsError as error:
            raise fail(str(error), 2) from None
    if path is None:
        if not SANDBOX_TOPOLOGY.exists():
            raise fail(
                "サイトの一覧がありません（--topology か YUI_TOPOLOGY_FILE を指定） / no sites: "
                "give --topology or set YUI_TOPOLOGY_FILE",
                2,
            )
        path = SANDBOX_TOPOLOGY
    try:
        return load_topology(path).sites
    except TopologyError as error:
        raise fail(str(error), 2) from None


def _read_alert_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_ALERT_BYTES + 1)  # the parser refuses what is over the cap
    except OSError as error:
        raise fail(
            f"ファイルを読めません / cannot read {path}: {error.strerror or error}", 2
        ) from None
    return data


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="CAP 1.2/1.1 または気象庁XML / CAP or JMA XML file")],
    drill: Annotated[
        bool, typer.Option("--drill", help="訓練モード: Exercise/Test も実行 / act on exercises")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="判断だけ表示し実行しない / decide and print, do nothing"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
    topology: Annotated[
        Path | None, typer.Option("--topology", help="topology TOML (default: YUI_TOPOLOGY_FILE)")
    ] = None,
    now: Annotated[
        datetime | None,
        typer.Option(
            "--now",
            help="判断の基準時刻（再生用） / judge as of this time (replays), ISO 8601 with zone",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"],
        ),
    ] = None,
    tenants: Annotated[
        bool,
        typer.Option(
            "--tenants/--no-tenants",
            help="このサイトが主系の自治体にも伝える（安否確認） / also tell the tenants this "
            "site is the primary of (safety confirmation)",
        ),
    ] = True,
) -> None:
    """警報XMLを読み、退避するサイトを判断する / parse an alert and decide which sites to evacuate."""
    try:
        settings = EvacuationSettings()
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise fail(
            f"設定 YUI_EVACUATION_{field.upper()} が正しくありません / invalid setting "
            f"YUI_EVACUATION_{field.upper()}: {first['msg']}",
            2,
        ) from None
    sites = _sites(topology)
    try:
        alert = parse_alert(_read_alert_file(file))
    except AlertError as error:
        raise fail(f"{file}: {error}", 2) from None
    at = now or datetime.now(UTC)
    if at.utcoffset() is None:
        at = at.replace(tzinfo=UTC)
    told = None
    if tenants and not dry_run:
        try:
            told = _tell_tenants(alert, at)
        except Exception as error:  # the tenants' side never keeps an alert from evacuation
            errors.print(
                f"[yellow]自治体に伝えられませんでした / the tenants could not be told: {error}[/]",
                highlight=False,
            )
    outcome = asyncio.run(
        intake.ingest(
            alert,
            sites,
            settings,
            trigger=None if _trigger_factory is None else _trigger_factory(),
            drill=drill,
            dry_run=dry_run,
            now=now,
        )
    )
    _print(outcome, told, as_json)
    if not outcome.ok:
        raise typer.Exit(1)


def _site_database(config: Settings) -> str | None:
    """The site's database when it is here (never created by this command)."""
    if config.database_url:
        return config.database_url
    return config.effective_database_url if (config.site_dir / "yui.db").exists() else None


def _tell_tenants(alert: Alert, at: datetime) -> Announcement | None:
    """The alert intake's second consumer, as at the site node (`assembly.site`)."""
    from assembly.cli.jobs import EveryTenant, WatchedPrimaries
    from assembly.schema import SCHEMA_HISTORY
    from safety_check.campaigns.alerts import on_hazard_alert
    from yui.db.database import Database
    from yui.events import BUS, HazardAlertReceived
    from yui.jobs.worker import fence

    config = load_settings()  # a SettingsError is said as the caller says any failure here
    url = _site_database(config)
    if url is None:
        return None
    BUS.subscribe(HazardAlertReceived, on_hazard_alert)
    db = Database(url)
    try:
        db.migrate(SCHEMA_HISTORY)
        primaries = WatchedPrimaries(config, db) if config.etcd_endpoint_list else EveryTenant(db)
        db.write_gate = fence(primaries, config.site)
        return announce(alert, db, primaries(), site=config.site, now=at)
    finally:
        db.dispose()


def _print(outcome: intake.IngestOutcome, told: Announcement | None, as_json: bool) -> None:
    if as_json:
        answer = outcome.to_json()
        answer["tenants"] = told.to_json() if told is not None else None
        print(json.dumps(answer, ensure_ascii=False))
        return
    if told is not None:
        console.print(
            f"自治体に伝えました / tenants told: {', '.join(told.told) or '-'}", highlight=False
        )
        for tenant, why in told.skipped.items():
            console.print(f"  {tenant}: [yellow]{why}[/]", highlight=False)
    decision = outcome.decision
    console.print(
        f"[bold]{decision.alert_identifier}[/] ({decision.status.value}, "
        f"{decision.msg_type.value}, {decision.kind.value})",
        highlight=False,
    )
    colour = {"evacuate": "red", "drill": "yellow", "drill-only": "yellow"}.get(
        decision.action, "green"
    )
    console.print(f"[{colour}]{decision.summary()}[/]", highlight=False)
    for reason in decision.reasons:
        console.print(f"  - {reason.text()}", highlight=False)
    for site in decision.per_site:
        mark = "●" if site.selected else "○"
        console.print(f"  {mark} {site.site}", highlight=False)
        for reason in site.reasons:
            console.print(f"      {reason.text()}", highlight=False)
    for result in outcome.executed or []:
        status = "ok" if result.ok else f"[red]{result.error}[/]"
        console.print(f"  {result.site}: {status}", highlight=False)
    console.print(outcome.note, highlight=False)
