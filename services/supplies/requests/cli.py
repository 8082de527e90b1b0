"""`yui supplies requests …`: requests, the allocation suggestion and EDXL-RM from a shell.

The CLI acts as the municipality's staff on the site it runs on (an operator with the
site's database, writing at the tenant's primary): every change is audited under
`--actor` (default: cli:<user>). Exit codes: 0 done, 1 failed, 2 refused input (nothing
was written).
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from supplies.access import Reach
from supplies.exchange import service as exchange
from supplies.requests import service
from supplies.requests.models import Status
from supplies.requests.schemas import CommitIn
from yui.db import schema
from yui.db.database import Database
from yui.db.unit_of_work import UnitOfWork
from yui.errors import YuiError
from yui.settings import SettingsError, load_settings

app = typer.Typer(
    help="物資の要請・配分・EDXL-RM / relief supply requests, allocation and EDXL-RM",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)
EVERYWHERE = Reach(everywhere=True, places=frozenset())

TenantOption = Annotated[str, typer.Option("--tenant", help="地方公共団体コード, e.g. 041009")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="監査ログの実行者 / who acts (default: cli:<user>)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON で出力 / print JSON")]


def _actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(message)
    return typer.Exit(code)


@contextmanager
def _unit(command: typer.Context, tenant: str, *, read_only: bool = False) -> Iterator[UnitOfWork]:
    """One unit of work of the tenant on the site's database; a domain error is a message
    and exit code 2 (refused, nothing written) or 1."""
    if not re.fullmatch(r"\d{6}", tenant):
        raise _fail("--tenant は 6 桁のコードです / --tenant is a six-digit code", 2)
    try:
        settings = load_settings()
    except SettingsError as error:
        raise _fail(str(error), 2) from None
    db = Database(settings.effective_database_url)
    try:
        db.migrate(schema.history_of(command))
        with db.unit_of_work(tenant, read_only=read_only) as uow:
            yield uow
    except YuiError as error:
        raise _fail(error.detail, 2 if error.status in (400, 403, 404, 409, 422) else 1) from None
    finally:
        db.dispose()


@app.command("list")
def list_requests(
    command: typer.Context,
    tenant: TenantOption,
    status: Annotated[Status | None, typer.Option("--status")] = None,
    as_json: JsonOption = False,
) -> None:
    """要請の一覧 / the requests, newest first."""
    with _unit(command, tenant, read_only=True) as uow:
        found = service.listed(uow.session, EVERYWHERE, status=status)
        rows = [
            {
                "id": r.id,
                "status": r.status,
                "origin": r.origin,
                "shelter_id": r.shelter_id,
                "requester_tenant": r.requester_tenant,
                "created_at": r.created_at.isoformat(),
            }
            for r in found
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "status", "origin", "shelter / municipality", "created")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["status"]),
            str(row["origin"]),
            str(row["shelter_id"] or row["requester_tenant"]),
            str(row["created_at"]),
        )
    console.print(table)


@app.command()
def approve(
    command: typer.Context, request_id: str, tenant: TenantOption, actor: ActorOption = None
) -> None:
    """要請を承認 / approve a submitted request."""
    with _unit(command, tenant) as uow:
        request = service.get(uow.session, request_id, EVERYWHERE)
        service.transition(uow.session, request, Status.APPROVED, actor=_actor(actor))
        uow.commit()
    console.print(f"承認しました / approved {request_id}")


@app.command()
def allocate(
    command: typer.Context,
    tenant: TenantOption,
    commit: Annotated[
        bool, typer.Option("--commit", help="提案どおり確定 / commit the suggestion as it is")
    ] = False,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """承認済み要請への配分案（理由つき）。--commit で確定 / the allocation suggestion for
    every approved request, each line with its rule; --commit confirms it."""
    with _unit(command, tenant, read_only=not commit) as uow:
        suggested = service.suggest(uow.session)
        rows = [
            {
                "request_id": s.request.id,
                "line_id": s.line.id,
                "item": s.item.code,
                "open": str(s.line.requested - s.line.committed),
                "allocated": str(s.suggestion.allocated * s.scale),
                "rule": s.suggestion.rule.value,
                "explanation": s.suggestion.explanation,
            }
            for s in suggested
        ]
        if commit and suggested:
            requests = sorted({s.request.id for s in suggested})
            committed = service.commit(
                uow.session,
                CommitIn(requests=requests, accept_suggestion=True),
                EVERYWHERE,
                actor=_actor(actor),
            )
            for request in committed:
                exchange.reply_commit(uow, tenant, request, actor=_actor(actor))
            uow.commit()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        console.print(
            f"{row['request_id']} {row['item']}: {row['allocated']}/{row['open']} "
            f"[{row['rule']}] {row['explanation']}"
        )
    if commit:
        console.print(f"確定しました / committed {len({r['request_id'] for r in rows})} requests")


@app.command()
def ask(
    command: typer.Context,
    tenant: TenantOption,
    to: Annotated[str, typer.Option("--to", help="要請先のコード / the municipality asked")],
    item: Annotated[
        list[str], typer.Option("--item", help="品目コード=数量, e.g. water-2l=400 (repeat)")
    ],
    deliver_to: Annotated[str, typer.Option("--deliver-to", help="届け先 / where to")] = "",
    actor: ActorOption = None,
) -> None:
    """他の自治体・都道府県へ要請（EDXL-RM、ジョブで配送） / ask another municipality or the
    prefecture (EDXL-RM RequestResource, delivered by a job)."""
    lines = []
    for given in item:
        code, _, quantity = given.partition("=")
        try:
            lines.append(exchange.OutgoingLineIn(item=code, quantity=Decimal(quantity)))
        except (ValueError, InvalidOperation):
            raise _fail(
                f"--item {given!r}: 品目コード=正の数量 / item-code=positive-quantity", 2
            ) from None
    try:
        body = exchange.OutgoingRequestIn(to=to, deliver_to=deliver_to, lines=lines)
    except ValueError as error:
        raise _fail(str(error), 2) from None
    with _unit(command, tenant) as uow:
        row = exchange.send_request(uow, tenant, body, actor=_actor(actor))
        uow.commit()
        console.print(f"送信を予約しました / queued {row.message_id} (job {row.job_id})")


@app.command()
def resend(
    command: typer.Context,
    message: Annotated[str, typer.Argument(help="送信メッセージの行ID / the message's row id")],
    tenant: TenantOption,
    actor: ActorOption = None,
) -> None:
    """配送に失敗した送信メッセージを再送 / send again a message whose delivery failed."""
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", message):
        raise _fail(f"{message!r}: 行ID（UUID）を指定してください / give the row id (a UUID)", 2)
    with _unit(command, tenant) as uow:
        row, queued = exchange.resend(uow, tenant, message, actor=_actor(actor))
        uow.commit()
    if queued:
        console.print(f"再送を予約しました / queued {row.message_id} again (job {row.job_id})")
    else:
        console.print(
            f"配送中です（何もしません） / {row.message_id} is being delivered (job {row.job_id})"
        )


@app.command("edxl-import")
def edxl_import(
    command: typer.Context, path: Path, tenant: TenantOption, actor: ActorOption = None
) -> None:
    """EDXL-RM ファイルの取り込み / import an EDXL-RM file."""
    data = path.read_bytes()
    with _unit(command, tenant) as uow:
        row = exchange.import_file(uow.session, tenant, data, actor=_actor(actor))
        uow.commit()
        console.print(f"取り込みました / imported {row.kind} {row.message_id}")


@app.command("edxl-export")
def edxl_export(
    command: typer.Context,
    request_id: str,
    tenant: TenantOption,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """要請を EDXL-RM RequestResource で書き出す / a request as EDXL-RM RequestResource."""
    with _unit(command, tenant, read_only=True) as uow:
        request = service.get(uow.session, request_id, EVERYWHERE)
        data = exchange.export_request(uow.session, tenant, request)
    if output is None:
        typer.echo(data.decode("utf-8"))
    else:
        output.write_bytes(data)
