"""The secrets and the topology of docker-compose.yml: the sandbox's three sites, each a
group of containers, with the keys and certificates the sandbox makes for itself.

`yui deploy secrets DIR` writes them (never committed: DIR is in .gitignore). What the
sandbox already makes is made the same way: the sites' Ed25519 replication keys
(`generate_site_keys`), the private CA and certificates (`generate_pki`), the backup master
key (`MasterKey.load_or_create`). Passwords and tokens are kept when DIR already holds them
(a PostgreSQL volume keeps the password it was created with); certificates are made anew,
the CA is kept.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from assembly.sandbox.plan import SITES, SandboxPlan, SitePorts, site_spec
from replication.backup.crypto import MasterKey
from replication.protocol.signing import generate_site_keys
from yui.tls import generate_pki
from yui.topology import SiteSpec

#: the first site's node port, as in the sandbox (`make_plan`); the others follow
FIRST_NODE_PORT = 8401
#: etcd's, Redis's and MinIO's own ports: each container has its own address
ETCD_CLIENT_PORT, ETCD_PEER_PORT, REDIS_PORT, S3_PORT = 2379, 2380, 6379, 9000


@dataclass(frozen=True)
class ComposeSite:
    spec: SiteSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def etcd(self) -> str:
        """The service (and host) name of this site's etcd member, named in its certificate."""
        return f"etcd-{self.name}"

    @property
    def minio(self) -> str:
        return f"minio-{self.name}"


def compose_plan(root: Path) -> SandboxPlan:
    """The sandbox's sites as docker-compose.yml runs them: each node at
    https://<site>:<port>, the name of its service on the inter-site network."""
    sites, ports = [], {}
    for index, row in enumerate(SITES):
        name, node_port = row[0], FIRST_NODE_PORT + index
        ports[name] = SitePorts(node_port, ETCD_CLIENT_PORT, ETCD_PEER_PORT, REDIS_PORT, S3_PORT)
        sites.append(site_spec(row, f"https://{name}:{node_port}"))
    return SandboxPlan(root=root, sites=tuple(sites), ports=ports, tls=True)


def compose_sites(plan: SandboxPlan) -> list[ComposeSite]:
    return [ComposeSite(spec) for spec in plan.sites]


def _token() -> str:
    return secrets.token_urlsafe(48)


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def _write_env(path: Path, wanted: dict[str, str], keep: bool = True) -> None:
    """``KEY=value`` lines (mode 0600); with ``keep``, a value already in the file is kept
    (a password the running services were created with)."""
    old = _read_env(path) if keep else {}
    kept = {**wanted, **{k: v for k, v in old.items() if k in wanted}}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("# yui deploy secrets: 生成物、コミットしない / generated, never committed\n")
        handle.writelines(f"{key}={value}\n" for key, value in kept.items())


def write_compose_secrets(directory: Path) -> SandboxPlan:
    """Everything docker-compose.yml reads from ``directory`` (made 0700)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    plan = compose_plan(directory)
    sites = compose_sites(plan)
    plan.topology_file.write_text(plan.topology_toml())
    generate_site_keys(plan.keys_dir, [site.name for site in sites])
    # One CA for the sites and the etcd members: each node presents its site's certificate
    # to the other sites and to etcd (--client-cert-auth), each member its own to its peers.
    generate_pki(plan.tls_dir, [*(site.name for site in sites), *(site.etcd for site in sites)])
    MasterKey.load_or_create(directory / "backup-master.key")
    # Every node writes its backups to the others' MinIO: one S3 credential for the three.
    _write_env(directory / "minio.env", {"MINIO_ROOT_USER": "yui", "MINIO_ROOT_PASSWORD": _token()})
    minio = _read_env(directory / "minio.env")
    _write_env(
        directory / "common.env",
        {
            "YUI_TOKEN_SECRET": _token(),
            "YUI_ALERT_INTAKE_TOKEN": _token(),
            "YUI_METRICS_TOKEN": _token(),
            "AWS_ACCESS_KEY_ID": minio["MINIO_ROOT_USER"],
            "AWS_SECRET_ACCESS_KEY": minio["MINIO_ROOT_PASSWORD"],
        },
    )
    for site in sites:
        postgres = directory / f"{site.name}-postgres.env"
        _write_env(
            postgres, {"POSTGRES_USER": "yui", "POSTGRES_DB": "yui", "POSTGRES_PASSWORD": _token()}
        )
        redis = directory / f"{site.name}-redis.env"
        _write_env(redis, {"REDIS_PASSWORD": _token()})
        password, redis_password = (
            _read_env(postgres)["POSTGRES_PASSWORD"],
            _read_env(redis)["REDIS_PASSWORD"],
        )
        _write_env(
            directory / f"{site.name}.env",
            {
                "YUI_DATABASE_URL": f"postgresql+psycopg://yui:{password}@postgres-{site.name}:5432/yui",
                "YUI_REDIS_URL": f"redis://:{redis_password}@redis-{site.name}:{REDIS_PORT}/0",
            },
            keep=False,  # derived from the two files above, which keep theirs
        )
    return plan
