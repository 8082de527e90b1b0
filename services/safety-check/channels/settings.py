"""How a site reaches people: environment variables with the prefix YUI_SAFETY_.

No channel is configured by default (a site without one enqueues no fan-out). The
sandbox points each site at its own local SMTP sink (docs/sandbox.md).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from safety_check.channels.base import RateLimit, Sender
from safety_check.channels.smtp import SmtpSender
from safety_check.channels.webhook import WebhookSender


class OutreachSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_SAFETY_", extra="ignore", frozen=True)

    smtp_host: str | None = Field(default=None, description="SMTP relay; unset: no e-mail")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="anpi@localhost", description="the messages' From address")
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_rate_per_second: float = Field(default=50.0, gt=0, le=100_000)
    smtp_connections: int = Field(default=4, ge=1, le=64)
    webhook_url: str | None = Field(
        default=None, description="SMS gateway or messaging relay; unset: no webhook"
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="shared secret that signs each webhook body (HMAC-SHA256)"
    )
    webhook_rate_per_second: float = Field(default=20.0, gt=0, le=100_000)
    link_url: str = Field(
        default="http://127.0.0.1:8400/console/citizen/{tenant}/r/{token}",
        description="the one-tap link sent to each resident ({tenant} and {token} filled in): "
        "the citizens' one-tap page of the console, which reports through the link's API",
    )
    link_ttl_hours: int = Field(default=14 * 24, ge=1, le=90 * 24)
    link_requests_per_minute: int = Field(
        default=30, ge=1, le=10_000, description="requests to the link endpoints per client address"
    )
    batch_size: int = Field(default=500, ge=1, le=10_000)
    #: minutes after the first message when non-responders are reminded
    reminder_minutes: list[int] = Field(default=[60, 240])
    reminder_check_seconds: float = Field(
        default=300.0, ge=0, description="how often the worker looks for reminders due (0: off)"
    )
    send_threads: int = Field(default=8, ge=1, le=64)


def senders(settings: OutreachSettings) -> dict[str, Sender]:
    """The channels this site has, by name ("email", "webhook")."""
    found: dict[str, Sender] = {}
    if settings.smtp_host:
        found["email"] = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            sender_address=settings.smtp_from,
            rate=RateLimit(settings.smtp_rate_per_second),
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            connections=settings.smtp_connections,
        )
    if settings.webhook_url:
        found["webhook"] = WebhookSender(
            settings.webhook_url,
            rate=RateLimit(settings.webhook_rate_per_second),
            secret=(
                settings.webhook_secret.get_secret_value().encode()
                if settings.webhook_secret
                else None
            ),
        )
    return found


def channel_names(settings: OutreachSettings) -> list[str]:
    """The names of the channels `senders` would build (without building them)."""
    return [
        name
        for name, on in (("email", settings.smtp_host), ("webhook", settings.webhook_url))
        if on
    ]
