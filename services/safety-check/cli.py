"""`yui safety …`: safety confirmation for staff scripts.

    yui safety campaigns list | open | close | send-now | cancel | purge
    yui safety reports add
    yui safety counts

The CLI acts as staff of the site it runs on (an operator with the site's database, as
`yui residents` does): what it writes is audited under `--actor` (default: cli:<user>).
The registry is read through the kernel's `ResidentDirectory` port, which the composition
root wires with :func:`wire_directory` (this service never imports the registry).
Exit codes: 0 done, 1 failed, 2 refused input (nothing was written).
"""

from __future__ import annotations

import csv
import getpass
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from safety_check.campaigns import service as campaigns
from safety_check.campaigns.models import CampaignKind
from safety_check.campaigns.schemas import CampaignIn, CampaignOut, campaign_out
from safety_check.campaigns.service import JST
from safety_check.reports import service as reports
from safety_check.reports.models import ReporterKind, SafetyStatus
from safety_check.reports.schemas import ReportIn, report_out
from safety_check.views import service as views
from safety_check.views.schemas import CampaignCounts, DistrictCounts
from yui.db import schema
from yui.db.database import Database
from yui.errors import YuiError
from yui.service_ports import Audience, ResidentDirectory
from yui.settings import SettingsError, load_settings
from yui.tenancy.service import get_tenant

app = typer.Typer(help="安否確認 / safety confirmation", no_args_is_help=True)
campaigns_app = typer.Typer(help="安否確認（キャンペーン） / campaigns", no_args_is_help=True)
reports_app = typer.Typer(help="安否の報告 / reports", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(reports_app, name="reports")

console = Console()
errors = Console(stderr=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="地方公共団体コード, e.g. 041009")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="監査ログの実行者 / who acts (default: cli:<user>)")
]
CampaignArgument = Annotated[str, typer.Argument(help="安否確認ID / campaign id")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON で出力 / print JSON")]

DirectoryFactory = Callable[[Database], ResidentDirectory]
_directory_factory: DirectoryFactory | None = None


def wire_directory(factory: DirectoryFactory | None) -> None:
    """The composition root plugs the registry's directory in here."""
    global _directory_factory
    _directory_factory = factory


def _actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(f"[bold red]エラー / error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _refused(error: ValidationError) -> typer.Exit:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "input"
    return _fail(f"{field}: {first['msg']}", 2)


def _campaign_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _fail(f"安否確認IDが正しくありません / not a campaign id: {value!r}", 2) from None


@contextmanager
def _database(command: typer.Context, tenant: str) -> Iterator[Database]:
    """The site's database (migrated) with the tenant checked; domain errors become a
    message and an exit code."""
    try:
        settings = load_settings()
    except SettingsError as error:
        raise _fail(str(error), 2) from None
    db = Database(settings.effective_database_url)
    try:
        db.migrate(schema.history_of(command))
        get_tenant(db, tenant)
        yield db
    except YuiError as error:
        raise _fail(error.detail, 2 if error.status in (400, 404, 409, 422) else 1) from None
    finally:
        db.dispose()


def _directory(db: Database) -> ResidentDirectory:
    if _directory_factory is None:
        raise _fail("住民記録に接続されていません / the resident registry is not wired", 1)
    return _directory_factory(db)


def _print_campaigns(found: list[CampaignOut], as_json: bool) -> None:
    if as_json:
        for campaign in found:
            print(campaign.model_dump_json())
        return
    # staff read Japan's time, as the notices say it
    table = Table("id", "題名 / title", "kind", "state", "opened (JST)", "hold until", "notices")
    for campaign in found:
        hold = campaign.hold_until.astimezone(JST) if campaign.hold_until else None
        table.add_row(
            campaign.id,
            campaign.title,
            campaign.kind.value,
            campaign.state.value,
            f"{campaign.opened_at.astimezone(JST):%Y-%m-%d %H:%M}",
            f"{hold:%H:%M:%S}" if hold else "",
            str(len(campaign.notices)),
        )
    console.print(table)
    for campaign in found:
        for notice in campaign.notices:
            console.print(f"[dim]{campaign.id}[/] {notice.notice}", highlight=False)


@campaigns_app.command("list")
def list_campaigns(ctx: typer.Context, tenant: TenantOption, as_json: JsonOption = False) -> None:
    """安否確認の一覧（新しい順、警報の通知付き） / campaigns, newest first, with notices."""
    with _database(ctx, tenant) as db, db.unit_of_work(tenant, read_only=True) as uow:
        listed = campaigns.listed(uow.session)
        notices = campaigns.notices_of(uow.session, [campaign.id for campaign in listed])
        found = [campaign_out(campaign, notices[campaign.id]) for campaign in listed]
    _print_campaigns(found, as_json)


@campaigns_app.command("open")
def open_campaign(
    ctx: typer.Context,
    tenant: TenantOption,
    title: Annotated[str, typer.Option("--title", help="題名 / title, e.g. 宮城県沖地震")],
    drill: Annotated[bool, typer.Option("--drill", help="訓練 / a drill")] = False,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """安否確認を開始する（直ちに開く） / open a campaign (open at once)."""
    try:
        body = CampaignIn(title=title, kind=CampaignKind.DRILL if drill else CampaignKind.LIVE)
    except ValidationError as error:
        raise _refused(error) from None
    with _database(ctx, tenant) as db, db.unit_of_work(tenant) as uow:
        opened = campaigns.open_campaign(uow.session, body, actor=_actor(actor))
        uow.commit()
        out = campaign_out(opened)
    _print_campaigns([out], as_json)


def _change(
    ctx: typer.Context,
    tenant: str,
    campaign_id: str,
    change: Callable[..., Any],
    actor: str | None,
    as_json: bool,
) -> None:
    wanted = _campaign_id(campaign_id)
    with _database(ctx, tenant) as db, db.unit_of_work(tenant) as uow:
        campaign = change(uow.session, wanted, actor=_actor(actor))
        out = campaign_out(campaign, campaigns.notices_of(uow.session, [wanted])[wanted])
        uow.commit()
    _print_campaigns([out], as_json)


@campaigns_app.command("close")
def close_campaign(
    ctx: typer.Context,
    campaign_id: CampaignArgument,
    tenant: TenantOption,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """安否確認を終了する / close a campaign."""
    _change(ctx, tenant, campaign_id, campaigns.close, actor, as_json)


@campaigns_app.command("send-now")
def send_now(
    ctx: typer.Context,
    campaign_id: CampaignArgument,
    tenant: TenantOption,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """誤報保留を終えて直ちに開く / end the false-alarm hold and open now."""
    _change(ctx, tenant, campaign_id, campaigns.send_now, actor, as_json)


@campaigns_app.command("cancel")
def cancel(
    ctx: typer.Context,
    campaign_id: CampaignArgument,
    tenant: TenantOption,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """保留中の安否確認を取り消す（誤報） / cancel a held campaign (a false alarm)."""
    _change(ctx, tenant, campaign_id, campaigns.cancel, actor, as_json)


@campaigns_app.command("purge")
def purge(
    ctx: typer.Context,
    campaign_id: CampaignArgument,
    tenant: TenantOption,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """訓練の安否確認を報告ごと削除する（本番は削除できない） / purge a drill campaign with its
    reports (never a live one)."""
    wanted = _campaign_id(campaign_id)
    with _database(ctx, tenant) as db, db.unit_of_work(tenant) as uow:
        removed = campaigns.purge_drill(uow.session, wanted, actor=_actor(actor))
        uow.commit()
    if as_json:
        print(json.dumps({"id": wanted, "reports": removed}))
        return
    console.print(
        f"削除しました（報告 {removed} 件） / purged, with {removed} reports: {wanted}",
        highlight=False,
    )


@reports_app.command("add")
def add_report(
    ctx: typer.Context,
    tenant: TenantOption,
    campaign_id: Annotated[str, typer.Option("--campaign", help="安否確認ID / campaign id")],
    resident_id: Annotated[str, typer.Option("--resident", help="住民ID / resident id")],
    status: Annotated[
        str, typer.Option("--status", help=" | ".join(value.value for value in SafetyStatus))
    ],
    reported_at: Annotated[
        str | None,
        typer.Option("--at", help="報告時刻 ISO 8601（タイムゾーン付き、既定: 今） / default now"),
    ] = None,
    reporter_kind: Annotated[
        str,
        typer.Option("--reporter-kind", help=" | ".join(value.value for value in ReporterKind)),
    ] = ReporterKind.STAFF_CALL.value,
    location: Annotated[str, typer.Option(help="いる場所 / where")] = "",
    shelter: Annotated[str, typer.Option(help="避難所 / shelter")] = "",
    note: Annotated[str, typer.Option(help="メモ / note")] = "",
    report_id: Annotated[
        str | None, typer.Option("--id", help="報告ID（再送は同じID） / report id (UUID)")
    ] = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """職員の報告を記録する（電話・戸別訪問） / record a staff report (a call, a visit)."""
    try:
        body = ReportIn.model_validate(
            {
                "id": report_id or str(uuid.uuid4()),
                "resident_id": resident_id,
                "status": status,
                "reported_at": reported_at or datetime.now(UTC).isoformat(),
                "reporter_kind": reporter_kind,
                "location": location,
                "shelter": shelter,
                "note": note,
            }
        )
    except ValidationError as error:
        raise _refused(error) from None
    wanted = _campaign_id(campaign_id)
    with _database(ctx, tenant) as db:
        directory = _directory(db)
        with db.unit_of_work(tenant) as uow:
            recorded = reports.record(
                uow,
                directory,
                wanted,
                body,
                actor=_actor(actor),
                audience=Audience.STAFF,
                may_record_death=True,
            )
            uow.commit()
            out = report_out(recorded.report)
    if as_json:
        print(out.model_dump_json())
        return
    state = "記録しました / recorded" if recorded.created else "記録済み / already recorded"
    console.print(f"{state}: {out.id} {out.status.value} ({out.town_name})", highlight=False)


@app.command("counts")
def counts(
    ctx: typer.Context,
    tenant: TenantOption,
    campaign_id: Annotated[str, typer.Option("--campaign", help="安否確認ID / campaign id")],
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV で出力 / print CSV")] = False,
) -> None:
    """町字ごとの安否の件数 / counts by status per 町字."""
    wanted = _campaign_id(campaign_id)
    with _database(ctx, tenant) as db:
        directory = _directory(db)
        with db.unit_of_work(tenant, read_only=True) as uow:
            found = views.counts_by_district(uow, directory, wanted)
    if as_csv:
        _print_csv(found)
    else:
        _print_table(found)


STATUSES = tuple(SafetyStatus)


def _row(district: DistrictCounts) -> list[str]:
    return [
        district.town_name,
        str(district.residents),
        *(str(district.counts.get(status, 0)) for status in STATUSES),
        str(district.unconfirmed),
    ]


def _print_csv(found: CampaignCounts) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\r\n")
    writer.writerow(["town_name", "residents", *STATUSES, "unconfirmed"])
    for district in [*found.districts, found.total]:
        writer.writerow(_row(district))


def _print_table(found: CampaignCounts) -> None:
    # only the statuses someone has: eleven columns do not fit a terminal
    shown = [status for status in STATUSES if found.total.counts.get(status, 0)]
    table = Table(title=f"安否確認 / campaign {found.campaign_id}")
    table.add_column("町字", no_wrap=True)
    for header in ("住民 / residents", "未確認 / unconfirmed", *shown):
        table.add_column(header, justify="right")
    for district in [*found.districts, found.total]:
        table.add_row(
            district.town_name,
            str(district.residents),
            str(district.unconfirmed),
            *(str(district.counts.get(status, 0)) for status in shown),
            style="bold" if district is found.total else None,
        )
    console.print(table)
