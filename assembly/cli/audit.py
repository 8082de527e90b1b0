from __future__ import annotations

from typing import Annotated

import typer

from assembly.cli.common import console, database, fail
from yui.audit import service
from yui.tenancy.service import get_tenant, list_tenants

app = typer.Typer(help="監査ログ / audit log", no_args_is_help=True)


@app.command("verify")
def verify(
    tenant: Annotated[str | None, typer.Option("--tenant", help="default: every tenant")] = None,
) -> None:
    """ハッシュチェーンを検証する / verify the hash chain; exit 1 at the first broken entry."""
    broken = False
    with database() as db:
        codes = (
            [get_tenant(db, tenant).tenant_id]
            if tenant
            else [t.tenant_id for t in list_tenants(db)]
        )
        for code in codes:
            with db.unit_of_work(code, read_only=True) as uow:
                result = service.verify(uow.session)
            if result.ok:
                console.print(f"[green]OK[/] {code}: {result.entries} entries")
            else:
                broken = True
                console.print(
                    f"[red]改ざん / TAMPERED[/] {code}: {result.problem}", highlight=False
                )
    if broken:
        raise fail("監査ログが改ざんされています / the audit log was tampered with", 1)
