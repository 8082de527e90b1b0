from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from assembly.cli.common import console, database, fail
from yui.auth import service
from yui.auth.models import Role, StaffUser

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


def _change(tenant: str, username: str, change: Callable[[Session, StaffUser], str]) -> None:
    """Run one audited change of an account in the tenant's unit of work, print what it did."""
    with database() as db, db.unit_of_work(tenant) as uow:
        from yui.tenancy.service import get_tenant

        get_tenant(db, tenant)
        user = service.find_user(uow.session, username)
        done = change(uow.session, user)
        uow.commit()
    console.print(f"{done}: {user.username} in {tenant}")


Tenant = Annotated[str, typer.Option("--tenant", help="地方公共団体コード")]
Username = Annotated[str, typer.Option("--username")]


@app.command("disable")
def disable(tenant: Tenant, username: Username) -> None:
    """アカウントを無効化（全トークンも無効） / disable an account (its tokens end at every site)."""

    def change(session: Session, user: StaffUser) -> str:
        service.set_disabled(session, user, True, actor="cli")
        return "無効化しました / disabled"

    _change(tenant, username, change)


@app.command("enable")
def enable(tenant: Tenant, username: Username) -> None:
    """無効化したアカウントを戻す / enable a disabled account again."""

    def change(session: Session, user: StaffUser) -> str:
        service.set_disabled(session, user, False, actor="cli")
        return "有効化しました / enabled"

    _change(tenant, username, change)


@app.command("set-roles")
def set_roles(
    tenant: Tenant,
    username: Username,
    role: Annotated[list[Role], typer.Option("--role", help="repeat for several roles")],
) -> None:
    """役割を置き換える（全トークンも無効） / replace an account's roles (its tokens end)."""

    def change(session: Session, user: StaffUser) -> str:
        service.set_roles(session, user, [r.value for r in role], actor="cli")
        return f"役割を変更しました / roles now {', '.join(user.roles)}"

    _change(tenant, username, change)


@app.command("reset-password")
def reset_password(
    tenant: Tenant,
    username: Username,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """パスワードを再設定（全トークンも無効） / set a new password (the account's tokens end)."""
    password = _read_password(password_stdin)

    def change(session: Session, user: StaffUser) -> str:
        service.reset_password(session, user, password, actor="cli")
        return "パスワードを再設定しました / password reset"

    _change(tenant, username, change)


@app.command("sign-out")
def sign_out(tenant: Tenant, username: Username) -> None:
    """アカウントの全トークンを無効化 / end every token of an account (at every site)."""

    def change(session: Session, user: StaffUser) -> str:
        service.sign_out(session, user)
        return "全トークンを無効化しました / every token ended"

    _change(tenant, username, change)
