from __future__ import annotations

import sys
from typing import Annotated

import typer

from yui.auth import service
from yui.auth.models import Role
from yui.cli.common import console, database, fail

app = typer.Typer(help="職員アカウント / staff accounts", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("パスワード / password", hide_input=True)
    if first != typer.prompt("もう一度 / again", hide_input=True):
        raise fail("パスワードが一致しません / the passwords differ", 2)
    return str(first)


@app.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", help="地方公共団体コード")],
    username: Annotated[str, typer.Option("--username")],
    role: Annotated[list[Role], typer.Option("--role", help="repeat for several roles")],
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """職員アカウントを作る（最初の管理者も） / create a staff account (the first admin too).

    There is no default password: it is typed twice, or given on standard input.
    """
    password = _read_password(password_stdin)
    with database() as db, db.unit_of_work(tenant) as uow:
        from yui.tenancy.service import get_tenant

        get_tenant(db, tenant)
        user = service.create_user(
            uow.session,
            username=username,
            password=password,
            roles=[r.value for r in role],
            display_name=display_name,
            actor="cli",
        )
        uow.commit()
    console.print(f"作成しました / created: {user.username} ({', '.join(user.roles)}) in {tenant}")
