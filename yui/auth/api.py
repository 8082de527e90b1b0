from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from yui.auth import service
from yui.auth.models import Role
from yui.auth.schemas import (
    LoginIn,
    MeOut,
    PasswordChangeIn,
    PasswordResetIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)
from yui.auth.service import Principal
from yui.http.deps import Context, Tenant, UoW, authenticated, require
from yui.http.middleware import client_address

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenOut, summary="ログイン / sign in")
def sign_in(
    body: LoginIn, tenant: Tenant, uow: UoW, context: Context, request: Request
) -> TokenOut:
    token, user = service.login(
        uow.session,
        tenant=tenant,
        username=body.username,
        password=body.password,
        client=client_address(dict(request.scope)),
        limiter=context.limiter,
        key=context.signing_key,
        ttl_seconds=context.settings.token_ttl_seconds,
    )
    return TokenOut(
        access_token=token,
        expires_in=context.settings.token_ttl_seconds,
        roles=[Role(role) for role in user.roles],
    )


@router.get("/auth/me", response_model=MeOut, summary="自分 / who am I")
def me(principal: Annotated[Principal, Depends(authenticated)]) -> MeOut:
    return MeOut(
        user_id=principal.user_id,
        username=principal.username,
        tenant=principal.tenant,
        roles=sorted(Role(role) for role in principal.roles),
    )


@router.get("/users", response_model=list[UserOut], summary="職員一覧 / staff accounts")
def list_users(uow: UoW, _: Annotated[Principal, Depends(require(Role.ADMIN))]) -> list[UserOut]:
    return [UserOut.model_validate(user) for user in service.list_users(uow.session)]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="職員を追加 / add a staff account",
)
def create_user(
    body: UserIn, uow: UoW, principal: Annotated[Principal, Depends(require(Role.ADMIN))]
) -> UserOut:
    user = service.create_user(
        uow.session,
        username=body.username,
        password=body.password,
        roles=[role.value for role in body.roles],
        display_name=body.display_name,
        actor=principal.username,
    )
    uow.commit()
    return UserOut.model_validate(user)


Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Me = Annotated[Principal, Depends(authenticated)]
UserId = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="職員ID / staff account id",
    ),
]


@router.post(
    "/auth/sign-out",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="ログアウト（このアカウントの全トークンを無効化） / sign out (ends every token of "
    "the account)",
)
def sign_out(uow: UoW, principal: Me) -> Response:
    service.sign_out(uow.session, service.get_user(uow.session, principal.user_id))
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="自分のパスワードを変更（全トークンを無効化） / change your password (ends every "
    "token of the account)",
)
def change_password(
    body: PasswordChangeIn, uow: UoW, principal: Me, context: Context, request: Request
) -> Response:
    user = service.get_user(uow.session, principal.user_id)
    service.change_password(
        uow.session,
        user,
        body.current_password,
        body.new_password,
        tenant=principal.tenant,
        client=client_address(dict(request.scope)),
        limiter=context.limiter,
    )
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    summary="職員の役割・無効化を変更（全トークンを無効化） / change an account's roles or "
    "disable it (ends its tokens)",
)
def update_user(user_id: UserId, body: UserPatch, uow: UoW, principal: Admin) -> UserOut:
    user = service.get_user(uow.session, user_id)
    if body.roles is not None:
        service.set_roles(
            uow.session, user, [role.value for role in body.roles], actor=principal.username
        )
    if body.disabled is not None:
        service.set_disabled(uow.session, user, body.disabled, actor=principal.username)
    uow.commit()
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="職員のパスワードを再設定（全トークンを無効化） / reset an account's password "
    "(ends its tokens)",
)
def reset_password(user_id: UserId, body: PasswordResetIn, uow: UoW, principal: Admin) -> Response:
    user = service.get_user(uow.session, user_id)
    service.reset_password(uow.session, user, body.new_password, actor=principal.username)
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
