"""Password hashing (argon2 through pwdlib) and the minimum a staff password must meet."""

from __future__ import annotations

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()
#: hashed once so that an unknown user costs as much time as a wrong password
_DUMMY = _hasher.hash("timing-equaliser-not-a-password")

MIN_LENGTH = 12


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValueError(
            f"パスワードは{MIN_LENGTH}文字以上です / a password needs at least {MIN_LENGTH} characters"
        )
    if len(password) > 1024:
        raise ValueError("パスワードが長すぎます / the password is too long")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY)
        return False
    return bool(_hasher.verify(password, password_hash))
