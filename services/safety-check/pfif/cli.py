"""`yui safety pfif export|import`: PFIF for staff scripts (mounted by the composition root).

The CLI acts as staff of the site it runs on (an operator with the site's database): what
it reads and writes is audited under `--actor` (default: cli:<user>). The registry is read
through the kernel's `ResidentDirectory` port, which the composition root wires with
:func:`wire_directory`. Exit codes: 0 done, 1 failed, 2 refused input (nothing written).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from safety_check.pfif import service
from safety_check.pfif.parse import MAX_PFIF_BYTES
from yui.db import schema
from yui.db.database import Database
from yui.errors import YuiError
from yui.service_ports import ResidentDirectory
from yui.settings import SettingsError, load_settings
from yui.tenancy.service import get_tenant

app = typer.Typer(
    help="PFIF 1.4 の書き出し・PFIF 1.2–1.4 の取り込み / PFIF export and import",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="地方公共団体コード, e.g. 041009")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="監査ログの実行者 / who acts (default: cli:<user>)")
]
DomainOption = Annotated[
    str,
    typer.Option(
        "--domain", help="記録IDのドメイン（既定 <tenant>.residents.yui） / record-id domain"
    ),
]

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


@contextmanager
def _database(command: typer.Context) -> Iterator[Database]:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise _fail(str(error), 2) from None
    db = Database(settings.effective_database_url)
    try:
        db.migrate(schema.history_of(command))
        yield db
    except YuiError as error:
        problems = error.extra.get("errors") or []
        for problem in problems[:50]:
            errors.print(
                f"  {problem['record']} {problem['field']}: {problem['reason']}", highlight=False
            )
        raise _fail(error.detail, 2 if error.status in (400, 404, 409, 413, 422) else 1) from None
    finally:
        db.dispose()


def _domain(tenant: str, given: str) -> str:
    domain = given or service.home_domain(tenant)
    if not service.DOMAIN.match(domain):
        raise _fail(f"--domain が正しくありません: {domain} / not a record-id domain", 2)
    return domain


@app.command("export")
def export(
    ctx: typer.Context,
    tenant: TenantOption,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="ファイル（既定は標準出力） / file")
    ] = None,
    domain: DomainOption = "",
    actor: ActorOption = None,
) -> None:
    """PFIF 1.4 で書き出す（DV 等支援措置の対象者は含まない） / export PFIF 1.4."""
    if _directory_factory is None:
        raise _fail("住民記録に接続されていません / the registry is not connected", 1)
    domain = _domain(tenant, domain)
    with _database(ctx) as db:
        get_tenant(db, tenant)
        plan = service.plan_export(
            db, _directory_factory(db), tenant, domain=domain, actor=_actor(actor)
        )
        chunks = service.write_export(plan)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        else:
            with output.open("wb") as file:
                for chunk in chunks:
                    file.write(chunk)
    errors.print(
        f"人物 / persons: {len(plan.persons)}、除外 / withheld: {plan.withheld}", highlight=False
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    tenant: TenantOption,
    file: Annotated[Path, typer.Argument(help="PFIF 1.2–1.4 の XML / a PFIF XML file")],
    domain: DomainOption = "",
    actor: ActorOption = None,
) -> None:
    """PFIF 1.2–1.4 を取り込む（記録IDとドメインで照合、全体か無か） / import PFIF."""
    domain = _domain(tenant, domain)
    try:
        if file.stat().st_size > MAX_PFIF_BYTES:
            raise _fail(
                f"ファイルが大きすぎます（上限 {MAX_PFIF_BYTES} バイト、分けてください） / the "
                f"file is too large (limit {MAX_PFIF_BYTES} bytes: split it)",
                2,
            )
        data = file.read_bytes()
    except OSError as error:
        raise _fail(f"読めません / cannot read {file}: {error.strerror}", 2) from None
    with _database(ctx) as db:
        get_tenant(db, tenant)
        with db.unit_of_work(tenant) as uow:
            counts = service.import_pfif(uow.session, data, domain=domain, actor=_actor(actor))
            uow.commit()
    print(json.dumps(counts.__dict__, ensure_ascii=False))
