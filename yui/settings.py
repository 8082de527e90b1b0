"""Settings of one site node: environment variables with the prefix YUI_.

Invalid settings stop start-up with one message that names the field
(`load_settings` raises `SettingsError`; the CLI prints it and exits 2).
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from yui.tls import TlsFiles, plain_http_peers
from yui.topology import Topology, TopologyError, load_topology


class SettingsError(Exception):
    """Start-up configuration is wrong; the message names the field."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_", extra="ignore", frozen=True)

    site: str = Field(
        default="local", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="this site's name"
    )
    data_dir: Path = Field(default=Path("var"), description="where the site keeps its files")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in data_dir/<site>/yui.db"
    )
    topology_file: Path | None = Field(default=None, description="TOML file naming the sites")
    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    token_secret: SecretStr | None = Field(
        default=None,
        description="key that signs staff tokens, shared by all sites; generated per data_dir "
        "when unset",
    )
    token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    token_secret_previous: SecretStr | None = Field(
        default=None,
        description="the signing key being retired: tokens it signed stay valid while it is "
        "set (rotation: move YUI_TOKEN_SECRET here, set a new YUI_TOKEN_SECRET at every site, "
        "unset this after YUI_TOKEN_TTL_SECONDS)",
    )
    token_account_check_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="how long a site trusts what it read of an account (disabled, token "
        "generation) before reading it again; a disabled account's tokens stop within this "
        "plus the replicas' lag",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=256 * 1_048_576)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_window_seconds: int = Field(default=300, ge=10, le=86400)
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or networks of the reverse proxies in front of "
        "this site; X-Forwarded-For is believed only from them (empty: never)",
    )
    etcd_endpoints: str = Field(
        default="", description="comma-separated host:port of etcd members; empty: no coordination"
    )
    lease_ttl_seconds: int = Field(default=3, ge=2, description="etcd lease TTL of this site")
    keepalive_interval_seconds: float = Field(
        default=1.0, gt=0, description="lease renewal interval"
    )
    retry_timeout_seconds: float = Field(default=1.0, gt=0, description="deadline of one etcd call")
    redis_url: str | None = Field(default=None, description="Celery broker of this site")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint for backups"
    )
    replication_trust_file: Path | None = Field(
        default=None,
        description="TOML naming the sites this site takes replication requests from, with "
        "their Ed25519 public keys; unset: replication is off",
    )
    replication_key_file: Path | None = Field(
        default=None,
        description="this site's Ed25519 replication key (PEM, 0600); default: "
        "data_dir/<site>/replication-key.pem, created when missing",
    )
    replication_ack_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="how long a sync write waits for the in-sync replicas before the laggards "
        "are removed from the in-sync set",
    )
    replication_batch_entries: int = Field(default=1000, ge=1, le=10_000)
    replication_window: int = Field(default=4, ge=1, le=64, description="batches in flight")
    restore_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a site holding a tenant's copy may be gone before the controller "
        "adds a replica at another site to restore the replication factor",
    )
    backup_targets: str = Field(
        default="",
        description="comma-separated S3 buckets of other sites that hold this site's "
        "backups, each https://endpoint/bucket (or s3://bucket); empty: no backups",
    )
    backup_key_file: Path | None = Field(
        default=None,
        description="the backup master key (tenant keys derive from it; every site that "
        "may restore needs it); default: data_dir/backup-master.key, created when missing",
    )
    backup_interval_seconds: float = Field(
        default=0, ge=0, description="how often a primary backs its tenants up; 0: on demand"
    )
    alert_intake_token: SecretStr | None = Field(
        default=None,
        description="bearer token of alert senders for POST /alerts/v1/ingest; unset: the "
        "endpoint refuses every request",
    )
    evacuation_drill_mode: bool = Field(
        default=False,
        description="act on Exercise/Test alerts pushed to /alerts/v1/ingest even without "
        "?drill=true (a site set aside for drills)",
    )
    jobs_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="how long a background job stays in flight at this site's worker "
        "without a sign of life (then the dispatcher sends it again)",
    )
    jobs_dispatch_seconds: float = Field(
        default=1.0, gt=0, le=300, description="how often the worker looks for jobs to run"
    )
    jobs_concurrency: int = Field(default=2, ge=1, le=64, description="jobs run at once")
    tls_ca_file: Path | None = Field(
        default=None,
        description="the CA (PEM) that signs every site's certificate: peers are verified "
        "against it only; unset: this site serves plain HTTP",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="this site's certificate (PEM), signed by the CA"
    )
    tls_key_file: Path | None = Field(default=None, description="its private key (PEM, 0600)")
    allow_plain_http_peers: bool = Field(
        default=False,
        description="local development only: accept http:// site URLs in the topology "
        "and etcd without TLS (site-to-site traffic in clear text)",
    )
    etcd_ca_file: Path | None = Field(
        default=None, description="the CA (PEM) that signs the etcd members' certificates"
    )
    etcd_cert_file: Path | None = Field(
        default=None, description="this site's client certificate for etcd (--client-cert-auth)"
    )
    etcd_key_file: Path | None = Field(default=None, description="its private key (PEM, 0600)")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token of the Prometheus scraper for GET /metrics; unset: /metrics "
        "refuses every request (the metrics name routes, sites and load: not for anyone)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    @field_validator("token_secret", "token_secret_previous", "alert_intake_token", "metrics_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        from yui.http.proxies import parse_networks

        parse_networks(value)  # ValueError names the bad entry
        return value

    @field_validator("etcd_endpoints")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for endpoint in filter(None, (part.strip() for part in value.split(","))):
            host, _, port = endpoint.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port, got {endpoint!r}")
        return value

    @property
    def etcd_tls_files(self) -> TlsFiles | None:
        """The etcd members' CA, this site's client certificate and key; None: plaintext."""
        if self.etcd_ca_file and self.etcd_cert_file and self.etcd_key_file:
            return TlsFiles(self.etcd_ca_file, self.etcd_cert_file, self.etcd_key_file)
        return None

    @property
    def tls_files(self) -> TlsFiles | None:
        """This site's CA, certificate and key; None: plain HTTP."""
        if self.tls_ca_file and self.tls_cert_file and self.tls_key_file:
            return TlsFiles(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        return None

    @property
    def etcd_endpoint_list(self) -> list[str]:
        return [part.strip() for part in self.etcd_endpoints.split(",") if part.strip()]

    @property
    def site_dir(self) -> Path:
        return self.data_dir / self.site

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.site_dir / 'yui.db').as_posix()}"

    @property
    def backup_key_path(self) -> Path:
        return self.backup_key_file or self.data_dir / "backup-master.key"

    @property
    def replication_key_path(self) -> Path:
        return self.replication_key_file or self.site_dir / "replication-key.pem"

    @cached_property
    def topology(self) -> Topology | None:
        return load_topology(self.topology_file) if self.topology_file else None

    def previous_signing_key(self) -> bytes | None:
        """The retiring token key, still accepted (never used to sign)."""
        previous = self.token_secret_previous
        return previous.get_secret_value().encode() if previous is not None else None

    def signing_key(self) -> bytes:
        """The token key: the setting, or a random key kept (0600) in data_dir."""
        if self.token_secret is not None:
            return self.token_secret.get_secret_value().encode()
        path = self.data_dir / "token-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "?"
    return f"設定 YUI_{field.upper()} が正しくありません / invalid setting YUI_{field.upper()}: {first['msg']}"


def _check_tls(settings: Settings) -> None:
    """The three TLS files together, each a file (the site's, and etcd's)."""
    for given in (
        {
            "YUI_TLS_CA_FILE": settings.tls_ca_file,
            "YUI_TLS_CERT_FILE": settings.tls_cert_file,
            "YUI_TLS_KEY_FILE": settings.tls_key_file,
        },
        {
            "YUI_ETCD_CA_FILE": settings.etcd_ca_file,
            "YUI_ETCD_CERT_FILE": settings.etcd_cert_file,
            "YUI_ETCD_KEY_FILE": settings.etcd_key_file,
        },
    ):
        if not any(given.values()):
            continue
        for name, path in given.items():
            if path is None or not path.is_file():
                raise SettingsError(
                    f"{name}: TLS には CA・証明書・鍵の 3 つのファイルが必要です / TLS needs the CA, "
                    f"the certificate and the key: {path or 'unset'} is not a file"
                )


def check_peer_urls(settings: Settings) -> None:
    """A node starts only with https:// peers and etcd over TLS, unless local development
    allows clear text. (A lone site, and sites tested in one process, have no peers.)"""
    if settings.allow_plain_http_peers:
        return
    if settings.etcd_endpoint_list and settings.etcd_tls_files is None:
        raise SettingsError(
            "YUI_ETCD_CA_FILE: etcd とは TLS で通信します / etcd is spoken to over TLS: set "
            "YUI_ETCD_CA_FILE, YUI_ETCD_CERT_FILE and YUI_ETCD_KEY_FILE "
            "(local development: YUI_ALLOW_PLAIN_HTTP_PEERS=true)"
        )
    if settings.topology is None:
        return
    plain = plain_http_peers(s.url for s in settings.topology.sites if s.name != settings.site)
    if plain:
        raise SettingsError(
            "YUI_TOPOLOGY_FILE: サイト間の通信は https:// のみです / site-to-site traffic is "
            f"https:// only: {', '.join(plain)} (local development: YUI_ALLOW_PLAIN_HTTP_PEERS=true)"
        )


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        if settings.topology is not None and settings.topology.find(settings.site) is None:
            raise SettingsError(
                f"設定 YUI_SITE={settings.site} はトポロジーにありません / "
                f"YUI_SITE={settings.site} is not a site of {settings.topology_file}"
            )
        _check_tls(settings)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except TopologyError as error:
        raise SettingsError(f"YUI_TOPOLOGY_FILE: {error}") from None
    return settings
