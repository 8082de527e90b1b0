"""The sandbox layout: three sites in three hazard zones at three providers, on loopback
(optionally a fourth, `--sites 4`)."""

from __future__ import annotations

import socket
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

from assembly.sandbox.etcd import find_etcd_binary, free_ports
from assembly.sandbox.processes import ProcessRecord
from yui.tls import OPERATOR, TlsFiles
from yui.topology import SiteSpec

#: name, provider, region, hazard zones, latitude, longitude
SiteRow = tuple[str, str, str, tuple[str, ...], float, float]

SITES: tuple[SiteRow, ...] = (
    ("aws-tokyo", "aws", "ap-northeast-1", ("kanto",), 35.68, 139.69),
    ("gcp-osaka", "gcp", "asia-northeast2", ("kansai", "nankai-trough"), 34.69, 135.50),
    ("sakura-ishikari", "sakura", "is1b", ("hokkaido",), 43.17, 141.32),
)
#: a fourth site (`yui sandbox up --sites 4`): another provider and hazard zone, so that a
#: lost site's copies can be restored somewhere that holds none yet
EXTRA_SITES: tuple[SiteRow, ...] = (
    ("oci-fukuoka", "oci", "ap-fukuoka-1", ("kyushu",), 33.59, 130.40),
    # a fifth (`--sites 5`): five etcd members, so that a partition can leave a primary
    # with a minority of them (two) while the majority side (three) elects and promotes
    ("azure-osaka", "azure", "japanwest", ("kansai", "nankai-trough"), 34.69, 135.50),
)
#: how long a site may be gone before its copies are restored elsewhere (production: 30 s)
RESTORE_GRACE_SECONDS = 5.0
#: etcd's raft timing on one machine (loopback: round trips well under 1 ms). etcd's
#: defaults (100 / 1,000 ms) left it silent 1.3-2.8 s after its leader was killed, past the
#: 1.7 s a lease holder survives (CoordinationTiming.lapse_silence_seconds), so such a kill
#: cost the sites their leases; these give 0.6-1.2 s (bench/etcd_election.py). A deployment
#: chooses its own from its round trips (docs/deploy.md).
ETCD_HEARTBEAT_MS = 50
ETCD_ELECTION_TIMEOUT_MS = 500
#: the sandbox's budget of the safety check's public paths (one-tap links, the open form)
#: per client address a minute: the setting's ceiling, not the production default (30).
#: Every request of a drill or a test comes from this machine's one address, so at 30 a
#: drill's citizens would be refused after their first 30 reports a minute; the limit
#: itself is tested apart (tests/safety_check/links). A drill-sandbox setting only.
SAFETY_LINK_REQUESTS_PER_MINUTE = 10_000
#: two demo municipalities whose primaries the placement policy puts at different sites
DEMO_TENANTS = (("041009", "仙台市"), ("271004", "大阪市"))


def mail_dir(root: Path, site: str) -> Path:
    """Where the SMTP sink of ``site`` of the sandbox at ``root`` stores its messages."""
    return root / "mail" / site


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class SitePorts:
    node: int
    etcd_client: int
    etcd_peer: int
    redis: int
    s3: int
    #: the site's local SMTP sink (safety confirmation's messages; 0: none)
    smtp: int = 0


@dataclass(frozen=True)
class SandboxPlan:
    root: Path
    sites: tuple[SiteSpec, ...]
    ports: dict[str, SitePorts]
    #: the sites serve HTTPS with certificates of the sandbox's own CA (`tls_dir`)
    tls: bool = False

    @property
    def topology_file(self) -> Path:
        return self.root / "topology.toml"

    @property
    def keys_dir(self) -> Path:
        """Each site's Ed25519 replication key and the file of trusted public keys."""
        return self.root / "keys"

    @property
    def tls_dir(self) -> Path:
        """The sandbox's private CA and each site's certificate (yui.tls.generate_pki)."""
        return self.keys_dir / "tls"

    def tls_files(self, name: str) -> TlsFiles:
        """The CA, and the certificate and key of a site or of the operator."""
        return TlsFiles(
            self.tls_dir / "ca.pem", self.tls_dir / f"{name}.crt", self.tls_dir / f"{name}.key"
        )

    @property
    def data_dir(self) -> Path:
        return self.root / "sites"

    def mail_dir(self, site: str) -> Path:
        """Where the site's SMTP sink stores the messages it took, one file per key."""
        return mail_dir(self.root, site)

    def log_dir(self, site: str) -> Path:
        return self.root / "logs" / site

    @property
    def etcd_endpoints(self) -> str:
        return ",".join(f"127.0.0.1:{p.etcd_client}" for p in self.ports.values())

    def database_url(self, site: str) -> str:
        return f"sqlite:///{(self.data_dir / site / 'yui.db').as_posix()}"

    def topology_toml(self) -> str:
        blocks = []
        for site in self.sites:
            zones = ", ".join(f'"{zone}"' for zone in site.hazard_zones)
            blocks.append(
                f'[[site]]\nname = "{site.name}"\nprovider = "{site.provider}"\nregion = "{site.region}"\n'
                f"hazard_zones = [{zones}]\nlatitude = {site.latitude}\nlongitude = {site.longitude}\n"
                f'url = "{site.url}"\n'
            )
        return "\n".join(blocks)

    def processes(self) -> list[ProcessRecord]:
        etcd = find_etcd_binary()
        if etcd is None:
            raise RuntimeError(
                "etcd が見つかりません / etcd not found: apt-get install etcd-server"
            )
        scheme = "https" if self.tls else "http"
        cluster = ",".join(
            f"{s.name}={scheme}://127.0.0.1:{self.ports[s.name].etcd_peer}" for s in self.sites
        )
        records: list[ProcessRecord] = []
        for site in self.sites:
            ports, logs = self.ports[site.name], self.log_dir(site.name)
            records += [
                ProcessRecord(
                    name=f"{site.name}/etcd",
                    site=site.name,
                    role="etcd",
                    port=ports.etcd_client,
                    log=str(logs / "etcd.log"),
                    argv=[
                        etcd,
                        f"--name={site.name}",
                        f"--data-dir={self.root / 'etcd' / site.name}",
                        f"--listen-client-urls={scheme}://127.0.0.1:{ports.etcd_client}",
                        f"--advertise-client-urls={scheme}://127.0.0.1:{ports.etcd_client}",
                        f"--listen-peer-urls={scheme}://127.0.0.1:{ports.etcd_peer}",
                        f"--initial-advertise-peer-urls={scheme}://127.0.0.1:{ports.etcd_peer}",
                        f"--initial-cluster={cluster}",
                        "--initial-cluster-state=new",
                        "--initial-cluster-token=yui-sandbox",
                        f"--heartbeat-interval={ETCD_HEARTBEAT_MS}",
                        f"--election-timeout={ETCD_ELECTION_TIMEOUT_MS}",
                        *self._etcd_tls_args(site.name),
                    ],
                ),
                ProcessRecord(
                    name=f"{site.name}/redis",
                    site=site.name,
                    role="redis",
                    port=ports.redis,
                    log=str(logs / "redis.log"),
                    argv=[
                        "redis-server",
                        "--bind",
                        "127.0.0.1",
                        "--port",
                        str(ports.redis),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--protected-mode",
                        "yes",
                    ],
                ),
                ProcessRecord(
                    name=f"{site.name}/s3",
                    site=site.name,
                    role="s3",
                    port=ports.s3,
                    log=str(logs / "s3.log"),
                    argv=[
                        sys.executable,
                        "-m",
                        "moto.server",
                        "-H",
                        "127.0.0.1",
                        "-p",
                        str(ports.s3),
                    ],
                ),
                ProcessRecord(
                    name=f"{site.name}/smtp",
                    site=site.name,
                    role="smtp",
                    port=ports.smtp,
                    log=str(logs / "smtp.log"),
                    argv=[
                        sys.executable,
                        "-m",
                        "safety_check.channels.sink",
                        "--folder",
                        str(self.mail_dir(site.name)),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(ports.smtp),
                    ],
                ),
                ProcessRecord(
                    name=f"{site.name}/node",
                    site=site.name,
                    role="node",
                    port=ports.node,
                    log=str(logs / "node.log"),
                    argv=[sys.executable, "-m", "assembly", "run"],
                    env={
                        "YUI_SITE": site.name,
                        "YUI_PORT": str(ports.node),
                        "YUI_DATA_DIR": str(self.data_dir),
                        "YUI_TOPOLOGY_FILE": str(self.topology_file),
                        "YUI_ETCD_ENDPOINTS": self.etcd_endpoints,
                        "YUI_REDIS_URL": f"redis://127.0.0.1:{ports.redis}/0",
                        "YUI_S3_ENDPOINT_URL": f"http://127.0.0.1:{ports.s3}",
                        "YUI_REPLICATION_TRUST_FILE": str(self.keys_dir / "trusted-sites.toml"),
                        "YUI_REPLICATION_KEY_FILE": str(self.keys_dir / f"{site.name}.pem"),
                        "YUI_RESTORE_GRACE_SECONDS": str(RESTORE_GRACE_SECONDS),
                        # safety confirmation's messages go to the site's own SMTP sink
                        "YUI_SAFETY_SMTP_HOST": "127.0.0.1",
                        "YUI_SAFETY_SMTP_PORT": str(ports.smtp),
                        "YUI_SAFETY_SMTP_RATE_PER_SECOND": "2000",
                        "YUI_SAFETY_LINK_URL": f"{site.url}/console/citizen/{{tenant}}/r/{{token}}",
                        # the drills' citizens all come from this machine's address
                        "YUI_SAFETY_LINK_REQUESTS_PER_MINUTE": str(SAFETY_LINK_REQUESTS_PER_MINUTE),
                        **self._tls_env(site.name),
                    },
                ),
            ]
        records += [_worker_of(record) for record in records if record.role == "node"]
        return records

    def _tls_env(self, site: str) -> dict[str, str]:
        if not self.tls:  # plain HTTP on loopback: allowed explicitly, as for development
            return {"YUI_ALLOW_PLAIN_HTTP_PEERS": "true"}
        files = self.tls_files(site)  # the site's certificate serves it and opens etcd
        return {
            "YUI_TLS_CA_FILE": str(files.ca),
            "YUI_TLS_CERT_FILE": str(files.cert),
            "YUI_TLS_KEY_FILE": str(files.key),
            "YUI_ETCD_CA_FILE": str(files.ca),
            "YUI_ETCD_CERT_FILE": str(files.cert),
            "YUI_ETCD_KEY_FILE": str(files.key),
        }

    def _etcd_tls_args(self, site: str) -> list[str]:
        """etcd serves clients and peers over TLS and takes only certificates of the
        sandbox's CA (client-certificate authentication)."""
        if not self.tls:
            return []
        files = self.tls_files(site)
        return [
            f"--cert-file={files.cert}",
            f"--key-file={files.key}",
            f"--trusted-ca-file={files.ca}",
            "--client-cert-auth",
            f"--peer-cert-file={files.cert}",
            f"--peer-key-file={files.key}",
            f"--peer-trusted-ca-file={files.ca}",
            "--peer-client-cert-auth",
        ]


def _worker_of(node: ProcessRecord) -> ProcessRecord:
    """The site's Celery worker (`yui jobs worker`): the node's settings, its Redis."""
    return ProcessRecord(
        name=f"{node.site}/worker",
        site=node.site,
        role="worker",
        log=str(Path(node.log).with_name("worker.log")),
        argv=[sys.executable, "-m", "assembly", "jobs", "worker"],
        env=dict(node.env),
    )


def operator_tls(root: Path) -> TlsFiles | None:
    """The CA and the operator's certificate of the sandbox at ``root`` when it runs with
    TLS (what the CLI, the drills and the tests present to its nodes and etcd); None when it
    runs in plain HTTP (`yui sandbox up --plain`: `up` clears the keys of an earlier run)."""
    tls_dir = root / "keys" / "tls"
    files = TlsFiles(tls_dir / "ca.pem", tls_dir / f"{OPERATOR}.crt", tls_dir / f"{OPERATOR}.key")
    return files if files.cert.exists() else None


def operator_context(root: Path) -> ssl.SSLContext | None:
    """A client context for the nodes and etcd of the sandbox at ``root``: its CA and the
    operator's certificate (None: a plain sandbox)."""
    files = operator_tls(root)
    return files.client_context() if files is not None else None


def operator_verify(root: Path) -> ssl.SSLContext | bool:
    """httpx's ``verify`` for calls to the nodes of the sandbox at ``root``: its CA and the
    operator's certificate, or True (the system's CAs) for a plain sandbox."""
    return operator_context(root) or True


def make_plan(
    root: Path, first_node_port: int = 8401, site_count: int = 3, tls: bool = False
) -> SandboxPlan:
    chosen = (*SITES, *EXTRA_SITES)[:site_count]
    sites, ports = [], {}
    spare = iter(free_ports(6 * len(chosen)))
    for index, row in enumerate(chosen):
        name = row[0]
        node_port = first_node_port + index
        if not port_is_free(node_port):
            node_port = next(spare)
        ports[name] = SitePorts(
            node_port, next(spare), next(spare), next(spare), next(spare), smtp=next(spare)
        )
        sites.append(site_spec(row, f"{'https' if tls else 'http'}://127.0.0.1:{node_port}"))
    return SandboxPlan(root=root, sites=tuple(sites), ports=ports, tls=tls)


def site_spec(row: SiteRow, url: str) -> SiteSpec:
    """One of the sandbox's sites, served at `url`."""
    name, provider, region, zones, lat, lon = row
    return SiteSpec(
        name=name,
        provider=provider,
        region=region,
        hazard_zones=zones,
        latitude=lat,
        longitude=lon,
        url=url,
    )
