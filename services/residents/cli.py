"""`yui residents …`: import, export, search, show, generate.

The CLI acts as staff of the site it runs on (an operator with the site's database),
so everything it reads of a resident is audited under `--actor` (default: cli:<user>).
Exit codes: 0 done, 1 failed, 2 refused input (nothing was written).
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from residents.csvio import exporter
from residents.csvio.importer import ImportOptions, ImportReport, import_file
from residents.csvio.parser import FileError
from residents.csvio.schemas import report_out
from residents.demo import service as demo
from residents.registry import service as registry
from residents.registry.schemas import resident_out
from residents.search import service as search
from residents.search.schemas import SearchQuery
from residents.settings import ResidentsSettings
from yui.db import schema
from yui.db.database import Database
from yui.errors import InvalidInput, YuiError
from yui.settings import SettingsError, load_settings
from yui.tenancy.service import get_tenant

app = typer.Typer(
    help="住民記録 / the resident registry: import, export, search, show, generate",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="地方公共団体コード, e.g. 041009")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="監査ログの実行者 / who acts (default: cli:<user>)")
]
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(f"[bold red]エラー / error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def _database(command: typer.Context) -> Iterator[Database]:
    """The site's database (migrated); domain errors become a message and an exit code."""
    try:
        settings = load_settings()
    except SettingsError as error:
        raise _fail(str(error), 2) from None
    db = Database(settings.effective_database_url)
    try:
        db.migrate(schema.history_of(command))
        yield db
    except YuiError as error:
        raise _fail(error.detail, 2 if error.status in (400, 404, 409, 422) else 1) from None
    finally:
        db.dispose()


def _print_report(report: ImportReport, as_json: bool) -> None:
    if as_json:
        print(report_out(report).model_dump_json())
        return
    if report.errors:
        table = Table("行 / line", "列 / column", "理由 / reason", title="問題 / problems")
        for error in report.errors[:50]:
            table.add_row(str(error.line), error.column, error.reason)
        console.print(table)
        if report.errors_total > 50:
            console.print(
                f"… ほか {report.errors_total - 50} 件 / and {report.errors_total - 50} more"
            )
    state = (
        "[green]取り込みました / imported[/]"
        if report.committed
        else "[red]取り込んでいません / nothing imported[/]"
    )
    console.print(
        f"{state}: {report.imported} 人 / residents, {report.households_created} 世帯 / new households, "
        f"{report.rejected} 行を除外 / rows rejected, {report.rows} 行 / rows read "
        f"({report.encoding}, {report.seconds:.1f} s)"
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV")],
    tenant: TenantOption,
    encoding: Annotated[
        str, typer.Option(help="auto | utf-8 | utf-8-sig | cp932 | shift_jis (auto: detect)")
    ] = "auto",
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="不正な行を除いて取り込む / import the valid rows, reject the rest",
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(help="除外した行の書き出し先 / where to write rejected rows (with reasons)"),
    ] = None,
    allow_extra_columns: Annotated[
        bool,
        typer.Option("--allow-extra-columns", help="知らない列を無視する / ignore unknown columns"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="report as JSON")] = False,
    actor: ActorOption = None,
) -> None:
    """住民CSVを取り込む（既定は全件か無し） / import a resident CSV (all or nothing by default)."""
    settings = ResidentsSettings()
    options = ImportOptions(
        encoding=encoding,
        skip_invalid=skip_invalid,
        allow_extra_columns=allow_extra_columns,
        batch_size=settings.import_batch_size,
    )
    if skip_invalid and rejects is None:
        rejects = file.with_name(f"{file.stem}.rejected.csv")
    size = file.stat().st_size
    with _database(ctx) as db:
        get_tenant(db, tenant)
        reject_stream: BinaryIO | None = rejects.open("wb") if rejects is not None else None
        try:
            with Progress(
                TextColumn("[bold]取り込み / importing[/]"),
                BarColumn(),
                DownloadColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=errors,
                disable=as_json or not errors.is_terminal,
            ) as progress:
                task = progress.add_task("import", total=size)
                report = import_file(
                    db,
                    tenant,
                    file,
                    actor=_actor(actor),
                    options=options,
                    settings=settings,
                    progress=lambda position: progress.update(task, completed=position),
                    rejects=reject_stream,
                )
        except FileError as error:
            if as_json:
                problems = [asdict(item) for item in error.errors]
                print(json.dumps({"committed": False, "errors": problems}, ensure_ascii=False))
            for item in error.errors:
                errors.print(f"{item.line} 行目 / line {item.line}: {item.reason}", highlight=False)
            raise _fail("ファイルを取り込めません / the file cannot be imported", 2) from None
        finally:
            if reject_stream is not None:
                reject_stream.close()
    _print_report(report, as_json)
    if rejects is not None and report.rejected and not as_json:
        console.print(f"除外した行 / rejected rows: {rejects}")
    if not report.committed:
        raise typer.Exit(2)


@app.command("export")
def export(
    ctx: typer.Context,
    tenant: TenantOption,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default: stdout)")
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="csv | pfif | assistance")] = "csv",
    encoding: Annotated[str, typer.Option(help="utf-8 | utf-8-sig | cp932")] = "utf-8",
    include_restricted: Annotated[
        bool,
        typer.Option(
            "--include-restricted",
            help="DV等支援措置の対象者も含める（移行・バックアップ用、監査記録あり） / include DV-blocked",
        ),
    ] = False,
    include_inactive: Annotated[
        bool, typer.Option("--include-inactive", help="転出・死亡した住民も含める")
    ] = False,
    disaster: Annotated[
        bool, typer.Option("--disaster", help="assistance: 災害時（同意のない人も含める）")
    ] = False,
    domain: Annotated[str, typer.Option(help="pfif: record id domain")] = "",
    actor: ActorOption = None,
) -> None:
    """住民を書き出す（CSV・PFIF・要支援者名簿） / export residents (CSV, PFIF, the register)."""
    if format_ not in ("csv", "pfif", "assistance"):
        raise _fail("--format は csv, pfif, assistance のいずれかです", 2)
    with _database(ctx) as db:
        municipality = get_tenant(db, tenant)
        try:
            if format_ == "csv":
                chunks = exporter.export_csv(
                    db,
                    tenant,
                    actor=_actor(actor),
                    options=exporter.ExportOptions(encoding, include_restricted, include_inactive),
                )
            elif format_ == "pfif":
                chunks = exporter.export_pfif(
                    db,
                    tenant,
                    actor=_actor(actor),
                    domain=domain or f"{tenant}.residents.yui",
                    municipality=municipality.name,
                    prefecture=municipality.prefecture,
                )
            else:
                chunks = exporter.export_assistance(
                    db, tenant, actor=_actor(actor), disaster=disaster, encoding=encoding
                )
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        stream = output.open("wb") if output is not None else sys.stdout.buffer
        try:
            for chunk in chunks:
                stream.write(chunk)
        finally:
            if output is not None:
                stream.close()
            else:
                stream.flush()
    if output is not None:
        errors.print(f"書き出しました / written: {output}")


@app.command("search")
def search_(
    ctx: typer.Context,
    tenant: TenantOption,
    query: Annotated[str, typer.Argument(help="氏名（漢字・かな） / name")] = "",
    address: Annotated[str, typer.Option(help="住所の前方一致 / address prefix")] = "",
    birth_date: Annotated[str, typer.Option("--birth-date", help="YYYY-MM-DD")] = "",
    household: Annotated[str, typer.Option("--household", help="世帯番号 / household number")] = "",
    include_inactive: Annotated[bool, typer.Option("--include-inactive")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    cursor: Annotated[str, typer.Option(help="next page (printed after a full page)")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: ActorOption = None,
) -> None:
    """住民を検索する（監査記録あり） / search residents (audited)."""
    try:
        born = date.fromisoformat(birth_date) if birth_date else None
        search_query = SearchQuery(
            q=query,
            address=address,
            birth_date=born,
            household_no=household,
            include_inactive=include_inactive,
            limit=limit,
            cursor=cursor,
        )
    except ValueError as error:
        raise _fail(f"検索条件が正しくありません / invalid query: {error}", 2) from None
    with _database(ctx) as db, db.unit_of_work(tenant) as uow:
        get_tenant(db, tenant)
        page = search.search(uow.session, search_query, actor=_actor(actor))
        uow.commit()
    if as_json:
        from residents.registry.schemas import resident_summary

        print(
            json.dumps(
                {
                    "items": [
                        resident_summary(
                            r, page.household_numbers.get(r.household_id, "")
                        ).model_dump(mode="json")
                        for r in page.residents
                    ],
                    "next_cursor": page.next_cursor,
                },
                ensure_ascii=False,
            )
        )
        return
    table = Table("ID", "宛名番号", "氏名", "かな", "生年月日", "住所", "状態")
    for resident in page.residents:
        table.add_row(
            resident.id,
            resident.resident_no,
            f"{resident.family_name} {resident.given_name}"
            + (" [red](支援措置)[/]" if resident.dv_block else ""),
            f"{resident.family_kana} {resident.given_kana}",
            resident.birth_date.isoformat(),
            f"{resident.town_name}{resident.block}",
            resident.status,
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"次のページ / next page: --cursor {page.next_cursor}")


@app.command("show")
def show(
    ctx: typer.Context,
    tenant: TenantOption,
    resident: Annotated[
        str, typer.Argument(help="住民ID (UUID) か宛名番号 / id or resident number")
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: ActorOption = None,
) -> None:
    """住民の詳細を表示する（監査記録あり） / show a resident's details (audited)."""
    with _database(ctx) as db, db.unit_of_work(tenant) as uow:
        get_tenant(db, tenant)
        found = (
            registry.get(uow.session, resident)
            if _UUID.match(resident)
            else registry.by_number(uow.session, resident)
        )
        found = registry.read(uow.session, found.id, actor=_actor(actor))
        out = resident_out(
            found,
            registry.household_of(uow.session, found),
            needs_assistance=registry.needs_assistance(uow.session, found.id),
        )
        moves = registry.moves(uow.session, found.id)
        uow.commit()
    if as_json:
        print(out.model_dump_json())
        return
    table = Table(show_header=False)
    for label, value in (
        ("ID", out.id),
        ("宛名番号 / number", out.resident_no),
        ("世帯番号 / household", f"{out.household.household_no} ({out.relationship})"),
        ("氏名 / name", f"{out.family_name} {out.given_name}"),
        ("振り仮名 / reading", f"{out.family_kana} {out.given_kana}"),
        ("生年月日 / born", out.birth_date.isoformat()),
        ("性別 / sex", out.sex.value),
        ("国籍・地域 / nationality", out.nationality or "-"),
        ("住所 / address", out.address.text),
        ("住定年月日 / since", out.address_since.isoformat() if out.address_since else "-"),
        ("状態 / status", f"{out.status.value} {out.status_on or ''}"),
        ("電話 / phone", out.phone or "-"),
        ("メール / e-mail", out.email or "-"),
        ("言語 / language", out.language),
        ("要支援 / needs assistance", "はい / yes" if out.needs_assistance else "-"),
        (
            "支援措置 / DV block",
            f"[red]対象 / blocked since {out.dv_block_since}[/]" if out.dv_block else "-",
        ),
        ("異動 / moves", ", ".join(f"{m.effective_on} {m.kind}" for m in moves) or "-"),
    ):
        table.add_row(label, str(value))
    console.print(table)


@app.command("generate")
def generate(
    ctx: typer.Context,
    tenant: TenantOption,
    count: Annotated[
        int, typer.Option("--count", min=1, max=10_000_000, help="住民の数 / residents")
    ],
    seed: Annotated[
        int, typer.Option(help="乱数の種（同じ種なら同じデータ） / same seed, same data")
    ] = 0,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="データベースではなくCSVに書く / write a CSV instead"),
    ] = None,
    encoding: Annotated[str, typer.Option(help="--csv: utf-8 | utf-8-sig | cp932")] = "utf-8",
    actor: ActorOption = None,
) -> None:
    """架空の住民を作る（Faker ja_JP） / generate synthetic residents (deterministic by seed)."""
    if csv is not None:
        with Progress(
            TextColumn("[bold]生成 / generating[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
            disable=not errors.is_terminal,
        ) as progress:
            task = progress.add_task("generate", total=count)
            with csv.open("wb") as stream:
                try:
                    specs = demo.write_csv(
                        stream,
                        tenant,
                        count,
                        seed=seed,
                        encoding=encoding,
                        progress=lambda done: progress.update(task, completed=done),
                    )
                except ValueError as error:
                    raise _fail(str(error), 2) from None
        errors.print(
            f"{count} 人を書きました（要支援 {len(specs)} 人） / wrote {count} residents: {csv}"
        )
        return
    with _database(ctx) as db:
        get_tenant(db, tenant)
        with Progress(
            TextColumn("[bold]生成と取り込み / generating and importing[/]"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=errors,
            disable=not errors.is_terminal,
        ) as progress:
            task = progress.add_task("generate", total=None)
            generated = demo.generate(
                db,
                tenant,
                count,
                seed=seed,
                actor=_actor(actor),
                progress=lambda position: progress.update(task, completed=position),
            )
    _print_report(generated.report, False)
    console.print(f"避難行動要支援者 / needs assistance: {generated.assisted} 人")
    if not generated.report.committed:
        raise typer.Exit(2)
