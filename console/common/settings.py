"""Settings of the console: environment variables with the prefix YUI_CONSOLE_."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_CONSOLE_", extra="ignore", frozen=True)

    operator_token: SecretStr | None = Field(
        default=None,
        min_length=24,
        description="the platform operators' pass for the console's platform pages (sites, "
        "placements, planned moves); unset: those pages are closed",
    )
    operator_session_seconds: int = Field(default=900, ge=60, le=43200)
    drills_dir: Path = Field(
        default=Path("var/drills"),
        description="where `yui drill run/soak` save their reports (--drills), for the "
        "platform pages' drill history",
    )
