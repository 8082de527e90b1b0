"""Staff accounts: create, authenticate, and the principal a request acts as."""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from yui.audit import service as audit
from yui.auth import passwords, tokens
from yui.auth.models import Role, StaffUser, username_key
from yui.auth.ratelimit import FailureLimiter
from yui.db.database import Database
from yui.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyRequests

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: one staff member of one municipality, with roles."""

    user_id: str
    username: str
    tenant: str
    roles: frozenset[str]
    generation: int = 0

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


def _limit_keys(tenant: str, username: str, client: str) -> tuple[str, str]:
    """The limiter's keys: the account (its name as compared) and the client's address."""
    return f"user:{tenant}:{username_key(username)}", f"client:{_client_network(client)}"


def _client_network(client: str) -> str:
    """What counts as one client: its IPv4 address, or its IPv6 /64 network (one
    subscriber's: a client holding 2^64 addresses must not get a new count per guess)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _refuse_while_blocked(limiter: FailureLimiter, *keys: str) -> None:
    wait = limiter.retry_after(*keys)
    if wait:
        raise TooManyRequests(
            f"ログインの試行が多すぎます。{wait}秒後に再試行してください / "
            f"too many failed logins; try again in {wait} s",
            retry_after=wait,
        )


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
    account_key, client_key = _limit_keys(tenant, username, client)
    _refuse_while_blocked(limiter, account_key, client_key)
    user = session.execute(
        select(StaffUser).where(StaffUser.username_key == folded)
    ).scalar_one_or_none()
    ok = passwords.verify_password(password, user.password_hash if user else None)
    if user is None or not ok or user.disabled:
        # A guessed name that is no account gets no key of its own: memory stays bounded.
        limiter.fail(*((account_key, client_key) if user is not None else (client_key,)))
        if user is not None:
            _record_failed_guess(session, user, "auth.login_failed", client)
        raise NotAuthenticated("ユーザー名またはパスワードが違います / wrong username or password")
    limiter.succeed(account_key)
    now = int(time.time())
    claims = tokens.TokenClaims(
        user_id=user.id,
        username=user.username,
        tenant=tenant,
        roles=tuple(user.roles),
        expires_at=now + ttl_seconds,
        generation=user.token_generation,
        issued_at=now,
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


def principal_from_token(
    token: str, keys: tokens.SigningKeys | bytes, *, max_age_seconds: int | None = None
) -> Principal:
    try:
        claims = tokens.read(token, keys, max_age_seconds=max_age_seconds)
    except tokens.TokenError as error:
        raise NotAuthenticated(f"トークンが無効です / invalid token: {error}") from None
    return Principal(
        claims.user_id,
        claims.username,
        claims.tenant,
        frozenset(claims.roles),
        claims.generation,
    )


# --- the token lifecycle: each change ends the account's tokens and is audited ----------


def get_user(session: Session, user_id: str) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"職員 {user_id} はいません / no staff account {user_id}")
    return user


def find_user(session: Session, username: str) -> StaffUser:
    """The account named `username` (compared NFKC case-folded), else 404."""
    user = session.execute(
        select(StaffUser).where(StaffUser.username_key == username_key(username))
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"職員 {username} はいません / no staff account {username}")
    return user


def _end_tokens(
    session: Session, user: StaffUser, *, actor: str, action: str, **detail: object
) -> None:
    """Raise the account's token generation: every token issued before stops working at
    every site once the row has replicated and the sites' short cache has passed."""
    user.token_generation += 1
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type="staff_user",
        subject_id=user.id,
        detail={"username": user.username, **detail},
    )


def set_disabled(session: Session, user: StaffUser, disabled: bool, *, actor: str) -> StaffUser:
    if user.disabled != disabled:
        user.disabled = disabled
        _end_tokens(
            session, user, actor=actor, action="user.disable" if disabled else "user.enable"
        )
    return user


def set_roles(session: Session, user: StaffUser, roles: list[str], *, actor: str) -> StaffUser:
    clean = parse_roles(roles)
    if sorted(user.roles) != clean:
        before = sorted(user.roles)
        user.roles = clean
        _end_tokens(session, user, actor=actor, action="user.roles", before=before, after=clean)
    return user


def reset_password(session: Session, user: StaffUser, new_password: str, *, actor: str) -> None:
    """An admin (or the CLI) sets a new password; the account's tokens end."""
    try:
        user.password_hash = passwords.hash_password(new_password)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    _end_tokens(session, user, actor=actor, action="user.password_reset")


def change_password(
    session: Session,
    user: StaffUser,
    current_password: str,
    new_password: str,
    *,
    tenant: str,
    client: str,
    limiter: FailureLimiter,
) -> None:
    """The account's holder changes their own password, proving the current one. A wrong
    current password is a guess like a failed sign-in (a stolen token must not be a way to
    guess the password freely): counted on the same keys, refused alike, and audited."""
    account_key, client_key = _limit_keys(tenant, user.username, client)
    _refuse_while_blocked(limiter, account_key, client_key)
    if not passwords.verify_password(current_password, user.password_hash):
        limiter.fail(account_key, client_key)
        _record_failed_guess(session, user, "auth.password_change_failed", client)
        raise NotAuthenticated("現在のパスワードが違います / the current password is wrong")
    limiter.succeed(account_key)
    try:
        user.password_hash = passwords.hash_password(new_password)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    _end_tokens(session, user, actor=user.username, action="user.password_change")


def _record_failed_guess(session: Session, user: StaffUser, action: str, client: str) -> None:
    """A wrong password for a known account is audited and committed before the refusal
    (the refusal rolls the rest back)."""
    audit.record(
        session,
        actor=user.username,
        action=action,
        subject_type="staff_user",
        subject_id=user.id,
        detail={"client": client},
    )
    session.commit()


def sign_out(session: Session, user: StaffUser) -> None:
    """Ends every token of the account (at every site): there is no list of single tokens
    to revoke, so signing out on one device signs out on all."""
    _end_tokens(session, user, actor=user.username, action="auth.sign_out")


class AccountStates:
    """What a site knows of each account a token names: its token generation and whether it
    is disabled, read from the tenant's own rows (a replica's copy serves too) and kept
    `ttl_seconds` so that a busy site does not read the account on every request. Bounded:
    the least recently read entries go first."""

    def __init__(self, db: Database, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._known: OrderedDict[tuple[str, str], tuple[float, int | None]] = OrderedDict()
        self._lock = threading.Lock()

    def _generation(self, tenant: str, user_id: str) -> int | None:
        """The account's current generation; None when it is gone or disabled."""
        key, now = (tenant, user_id), time.monotonic()
        with self._lock:
            known = self._known.get(key)
            if known is not None and now - known[0] < self.ttl:
                return known[1]
        with self.db.unit_of_work(tenant, read_only=True) as uow:
            row = uow.session.execute(
                select(StaffUser.token_generation, StaffUser.disabled).where(
                    StaffUser.id == user_id
                )
            ).first()
        generation = None if row is None or row.disabled else int(row.token_generation)
        with self._lock:
            self._known[key] = (now, generation)
            self._known.move_to_end(key)
            while len(self._known) > self.max_entries:
                self._known.popitem(last=False)
        return generation

    def check(self, principal: Principal) -> None:
        """401 unless the token's account exists, is enabled and has not ended its tokens."""
        if self._generation(principal.tenant, principal.user_id) != principal.generation:
            raise NotAuthenticated(
                "トークンは無効になりました（アカウントの無効化・パスワード変更・ログアウト） / "
                "the token was revoked (account disabled, password changed or signed out)"
            )
