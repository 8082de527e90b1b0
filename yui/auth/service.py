"""Staff accounts: create, authenticate, and the principal a request acts as."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from yui.audit import service as audit
from yui.auth import passwords, tokens
from yui.auth.models import Role, StaffUser, username_key
from yui.auth.ratelimit import FailureLimiter
from yui.errors import Conflict, InvalidInput, NotAuthenticated, TooManyRequests

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: one staff member of one municipality, with roles."""

    user_id: str
    username: str
    tenant: str
    roles: frozenset[str]

    def has_any(self, *roles: Role) -> bool:
        return any(role.value in self.roles for role in roles)


def parse_roles(names: list[str] | tuple[str, ...]) -> list[str]:
    known = {role.value for role in Role}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise InvalidInput(
            f"役割が正しくありません / unknown or missing roles: {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(sorted(known))}"
        )
    return sorted(set(names))


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    roles: list[str],
    display_name: str = "",
    actor: str,
) -> StaffUser:
    """Add a staff account to the tenant in scope (the caller commits)."""
    if not _USERNAME.match(username):
        raise InvalidInput(
            "ユーザー名は英数字と . _ @ - の2〜64文字です / a username is 2-64 letters, digits or . _ @ -"
        )
    try:
        password_hash = passwords.hash_password(password)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    clean_roles = parse_roles(roles)
    key = username_key(username)
    if session.execute(select(StaffUser.id).where(StaffUser.username_key == key)).first():
        raise Conflict(f"ユーザー {username} は既にあります / user {username} already exists")
    user = StaffUser(
        username=username,
        username_key=key,
        display_name=display_name,
        password_hash=password_hash,
        roles=clean_roles,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        subject_type="staff_user",
        subject_id=user.id,
        detail={"username": username, "roles": clean_roles},
    )
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.execute(select(StaffUser).order_by(StaffUser.username)).scalars())


def login(
    session: Session,
    *,
    tenant: str,
    username: str,
    password: str,
    client: str,
    limiter: FailureLimiter,
    key: bytes,
    ttl_seconds: int,
) -> tuple[str, StaffUser]:
    """Check the password and issue a token; failures are counted and audited."""
    folded = username_key(username)
    account_key, client_key = f"user:{tenant}:{folded}", f"client:{client}"
    wait = limiter.retry_after(account_key, client_key)
    if wait:
        raise TooManyRequests(
            f"ログインの試行が多すぎます。{wait}秒後に再試行してください / "
            f"too many failed logins; try again in {wait} s",
            retry_after=wait,
        )
    user = session.execute(
        select(StaffUser).where(StaffUser.username_key == folded)
    ).scalar_one_or_none()
    ok = passwords.verify_password(password, user.password_hash if user else None)
    if user is None or not ok or user.disabled:
        limiter.fail(account_key, client_key)
        if user is not None:
            audit.record(
                session,
                actor=user.username,
                action="auth.login_failed",
                subject_type="staff_user",
                subject_id=user.id,
                detail={"client": client},
            )
            session.commit()
        raise NotAuthenticated("ユーザー名またはパスワードが違います / wrong username or password")
    limiter.succeed(account_key)
    claims = tokens.TokenClaims(
        user_id=user.id,
        username=user.username,
        tenant=tenant,
        roles=tuple(user.roles),
        expires_at=int(time.time()) + ttl_seconds,
    )
    audit.record(
        session,
        actor=user.username,
        action="auth.login",
        subject_type="staff_user",
        subject_id=user.id,
        detail={"client": client},
    )
    session.commit()
    return tokens.issue(claims, key), user


def principal_from_token(token: str, key: bytes) -> Principal:
    try:
        claims = tokens.read(token, key)
    except tokens.TokenError as error:
        raise NotAuthenticated(f"トークンが無効です / invalid token: {error}") from None
    return Principal(claims.user_id, claims.username, claims.tenant, frozenset(claims.roles))
