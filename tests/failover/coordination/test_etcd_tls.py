"""etcd over TLS with client-certificate authentication, against a real etcd: a site with
the CA and its certificate reads and writes; a plaintext client, and a certificate of
another CA, get no answer."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assembly.sandbox.etcd import free_ports
from failover.coordination import CoordinationUnavailable, connect_etcd
from failover.placement.policy import Placement
from tests.failover.coordination.conftest import require_etcd
from yui.tls import TlsFiles, generate_pki

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60)]

SENDAI = "041009"


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, TlsFiles]]]:
    """One etcd member that serves clients and peers over TLS and requires a client
    certificate signed by the CA (--client-cert-auth)."""
    binary = require_etcd()
    root = tmp_path_factory.mktemp("etcd-tls")
    pki = generate_pki(root / "tls", ["etcd-1", "aws-tokyo"])
    client_port, peer_port = free_ports(2)
    server = pki["etcd-1"]
    argv = [
        binary,
        "--name=etcd-1",
        f"--data-dir={root / 'data'}",
        f"--listen-client-urls=https://127.0.0.1:{client_port}",
        f"--advertise-client-urls=https://127.0.0.1:{client_port}",
        f"--listen-peer-urls=https://127.0.0.1:{peer_port}",
        f"--initial-advertise-peer-urls=https://127.0.0.1:{peer_port}",
        f"--initial-cluster=etcd-1=https://127.0.0.1:{peer_port}",
        f"--cert-file={server.cert}",
        f"--key-file={server.key}",
        f"--trusted-ca-file={server.ca}",
        "--client-cert-auth",
        f"--peer-cert-file={server.cert}",
        f"--peer-key-file={server.key}",
        f"--peer-trusted-ca-file={server.ca}",
        "--peer-client-cert-auth",
    ]
    with (root / "etcd.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"127.0.0.1:{client_port}", pki
    finally:
        process.terminate()
        process.wait(10)


async def _read(endpoint: str, tls: TlsFiles | None) -> tuple[Placement | None, int]:
    async with connect_etcd([endpoint], tls=tls) as coordination:
        return await coordination.get_placement(SENDAI)


def _read_when_up(endpoint: str, tls: TlsFiles) -> tuple[Placement | None, int]:
    deadline = time.monotonic() + 20
    while True:
        try:
            return asyncio.run(_read(endpoint, tls))
        except CoordinationUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_site_with_the_ca_and_its_certificate_is_served(
    tls_etcd: tuple[str, dict[str, TlsFiles]],
) -> None:
    endpoint, pki = tls_etcd
    assert _read_when_up(endpoint, pki["aws-tokyo"]) == (None, 0)


def test_plaintext_and_foreign_certificates_get_no_answer(
    tls_etcd: tuple[str, dict[str, TlsFiles]], tmp_path: Path
) -> None:
    endpoint, pki = tls_etcd
    _read_when_up(endpoint, pki["aws-tokyo"])  # the member is up
    with pytest.raises(CoordinationUnavailable):
        asyncio.run(_read(endpoint, None))
    other = generate_pki(tmp_path, ["aws-tokyo"])["aws-tokyo"]
    with pytest.raises(CoordinationUnavailable):  # our CA's member, another CA's certificate
        asyncio.run(_read(endpoint, TlsFiles(pki["aws-tokyo"].ca, other.cert, other.key)))
