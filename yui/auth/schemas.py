from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from yui.auth.models import Role
from yui.db.types import UtcDateTime
from yui.text import InputModel


class LoginIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    roles: list[Role]


class MeOut(BaseModel):
    user_id: str
    username: str
    tenant: str
    roles: list[Role]


class UserIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
    display_name: str = Field(default="", max_length=100)
    password: str = Field(min_length=12, max_length=1024)
    roles: list[Role] = Field(min_length=1, max_length=5)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    display_name: str
    roles: list[Role]
    disabled: bool
    created_at: UtcDateTime


class UserPatch(InputModel):
    """An admin's change of an account: its roles, or whether it may sign in. Either ends
    the account's tokens."""

    model_config = ConfigDict(extra="forbid")

    roles: list[Role] | None = Field(default=None, min_length=1, max_length=5)
    disabled: bool | None = None


class PasswordResetIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    new_password: str = Field(min_length=12, max_length=1024)


class PasswordChangeIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=12, max_length=1024)
