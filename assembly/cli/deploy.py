"""`yui deploy secrets DIR`: what docker-compose.yml reads, generated, never committed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assembly.cli.common import console, fail
from assembly.sandbox.compose import write_compose_secrets

app = typer.Typer(help="配備 / deployment", no_args_is_help=True)


@app.command("secrets")
def secrets_command(
    directory: Annotated[
        Path, typer.Argument(help="where to write them (docker-compose.yml: deploy/secrets)")
    ] = Path("deploy/secrets"),
) -> None:
    """docker compose 用の鍵・証明書・パスワードを生成する / generate the keys, certificates
    and passwords docker-compose.yml reads (passwords kept when present; certificates renewed)."""
    if directory.exists() and not directory.is_dir():
        raise fail(f"{directory} はフォルダではありません / {directory} is not a folder", 2)
    try:
        plan = write_compose_secrets(directory)
    except OSError as error:
        raise fail(f"書き込めません / cannot write {directory}: {error}", 1) from None
    console.print(
        f"生成しました / written: {directory} ({', '.join(s.name for s in plan.sites)}); "
        "コミットしないこと / never commit it"
    )
