from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from yui.auth import service
from yui.auth.models import Role
from yui.auth.schemas import LoginIn, MeOut, TokenOut, UserIn, UserOut
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
