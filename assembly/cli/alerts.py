"""`yui alerts ingest FILE.xml`: parse a CAP 1.2 / JMA alert and decide which sites to evacuate.

The decision is failover.alerts.decide (pure). Carrying it out is the planned moves'
evacuation: the composition root (assembly.cli.main) registers it with :func:`wire_trigger`.
Without one wired, the command says what WOULD be evacuated and that nothing was done.

The command takes the alert as `POST /alerts/v1/ingest` does (failover.alerts.receive),
when the site's database is here (YUI_DATABASE_URL, or the default SQLite file of the
site): it keeps the alert and its decision there for the console's alerts page, and tells
the tenants this site is the primary of (safety confirmation's campaigns; not with
--dry-run or --no-tenants).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from assembly.cli.common import console, errors, fail
from failover.alerts import EvacuationSettings, EvacuationTrigger
from failover.alerts.receive import Receipt, SiteRecord, receive
from yui.hazard_alerts import MAX_ALERT_BYTES, AlertError, parse_alert
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
    trigger = None if _trigger_factory is None else _trigger_factory()
    with _site_record(tell_tenants=tenants and not dry_run) as record:
        receipt = asyncio.run(
            receive(
                alert,
                sites,
                settings,
                trigger=trigger,
                record=record,
                drill=drill,
                dry_run=dry_run,
                now=now,
            )
        )
    for problem in receipt.problems:
        errors.print(f"[yellow]{problem}[/]", highlight=False)
    _print(receipt, as_json)
    if not receipt.outcome.ok:
        raise typer.Exit(1)


def _site_database(config: Settings) -> str | None:
    """The site's database when it is here (never created by this command)."""
    if config.database_url:
        return config.database_url
    return config.effective_database_url if (config.site_dir / "yui.db").exists() else None


@contextmanager
def _site_record(*, tell_tenants: bool) -> Iterator[SiteRecord | None]:
    """The site's database, as at the site node (`assembly.site`): the alert is kept there
    for the console and, with ``tell_tenants``, the tenants this site is the primary of are
    told. None when the database is not here (or cannot be opened: the alert is still
    decided)."""
    from assembly.cli.jobs import EveryTenant, WatchedPrimaries
    from assembly.schema import SCHEMA_HISTORY
    from safety_check.campaigns.alerts import on_hazard_alert
    from yui.db.database import Database
    from yui.events import BUS, HazardAlertReceived
    from yui.jobs.worker import fence

    db = None
    try:
        config = load_settings()
        url = _site_database(config)
        if url is not None:
            db = Database(url)
            db.migrate(SCHEMA_HISTORY)
    except Exception as error:  # the site's side never keeps an alert from evacuation
        errors.print(
            f"[yellow]サイトのデータベースを開けません / cannot open the site's database: {error}[/]",
            highlight=False,
        )
        if db is not None:
            db.dispose()
        db = None
    if db is None:
        yield None
        return
    try:
        primaries = None
        if tell_tenants:
            BUS.subscribe(HazardAlertReceived, on_hazard_alert)
            primaries = (
                WatchedPrimaries(config, db) if config.etcd_endpoint_list else EveryTenant(db)
            )
            db.write_gate = fence(primaries, config.site)
        yield SiteRecord(db, config.site, primaries)
    finally:
        db.dispose()


def _print(receipt: Receipt, as_json: bool) -> None:
    if as_json:
        print(json.dumps(receipt.answer, ensure_ascii=False))
        return
    outcome, told = receipt.outcome, receipt.told
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
