from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from assembly.cli.common import console, database
from yui.tenancy import service

app = typer.Typer(help="自治体（テナント） / municipalities (tenants)", no_args_is_help=True)


@app.command("create")
def create(
    code: Annotated[str, typer.Argument(help="全国地方公共団体コード, e.g. 041009")],
    name: Annotated[str, typer.Option("--name", help="名称, e.g. 仙台市")],
    prefecture: Annotated[
        str | None, typer.Option("--prefecture", help="都道府県 (default: from the code)")
    ] = None,
) -> None:
    """自治体を登録する / register a municipality."""
    with database() as db:
        tenant = service.create_tenant(db, code, name, prefecture)
    console.print(f"登録しました / created: {tenant.tenant_id} {tenant.prefecture} {tenant.name}")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """このサイトの自治体一覧 / the municipalities this site holds."""
    with database() as db:
        tenants = service.list_tenants(db)
    if as_json:
        rows = [{"code": t.tenant_id, "name": t.name, "prefecture": t.prefecture} for t in tenants]
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("コード / code", "都道府県 / prefecture", "名称 / name")
    for tenant in tenants:
        table.add_row(tenant.tenant_id, tenant.prefecture, tenant.name)
    console.print(table)
