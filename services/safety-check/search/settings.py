"""Settings of the citizens' search: environment variables with the prefix YUI_SAFETY_SEARCH_."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_SAFETY_SEARCH_", extra="ignore", frozen=True)

    per_client: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="searches one client address may make per window (each municipality "
        "counts its own; the search across municipalities counts once at the site asked)",
    )
    window_seconds: int = Field(default=3600, ge=10, le=86_400)
    fanout_concurrency: int = Field(
        default=8, ge=1, le=64, description="municipalities asked at once by one search"
    )
    fanout_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="how long one municipality's answer is awaited"
    )
