"""Settings of the resident registry: environment variables with the prefix YUI_RESIDENTS_."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ResidentsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_RESIDENTS_", extra="ignore", frozen=True)

    max_import_bytes: int = Field(
        default=2 * 1024**3,
        ge=1024,
        description="the largest CSV file the import reads (HTTP uploads are further limited "
        "by YUI_MAX_BODY_BYTES)",
    )
    import_batch_size: int = Field(default=5000, ge=100, le=100_000)
    defer_indexes_bytes: int = Field(
        default=16 * 1024**2,
        ge=0,
        description="SQLite: a file at least this large is imported with the search indexes "
        "built once at the end",
    )
    import_cache_mb: int = Field(
        default=128, ge=0, le=4096, description="SQLite page cache while importing (0: default)"
    )
