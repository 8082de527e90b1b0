"""Settings of subscriptions: environment variables with the prefix YUI_SAFETY_SUBSCRIPTION_."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SubscriptionSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YUI_SAFETY_SUBSCRIPTION_", extra="ignore", frozen=True
    )

    url: str = Field(
        default="http://127.0.0.1:8400/api/v1/{tenant}/safety/subscriptions/{token}",
        description="the page an e-mail links to ({tenant} and {token} filled in): it confirms "
        "or ends the subscription (the citizen console may serve its own page there)",
    )
