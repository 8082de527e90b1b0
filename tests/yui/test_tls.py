"""TLS between sites, against a real uvicorn server: a site's HTTPS is trusted only by
clients that hold the sites' CA, a client certificate of another CA is refused in the
handshake, entry batches travel over TLS, and a node refuses http:// peers unless local
development allows them."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from assembly.sandbox.etcd import free_ports
from replication.protocol.transport import BatchConnections
from yui.settings import SettingsError, check_peer_urls, load_settings
from yui.tls import OPERATOR, TlsFiles, generate_pki


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"scheme": request.url.scheme, "body": (await request.body()).decode()})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    return generate_pki(tmp_path_factory.mktemp("pki"), ["aws-tokyo", "gcp-osaka"])


@pytest.fixture(scope="module")
def https_site(pki: dict[str, TlsFiles]) -> Iterator[str]:
    """A uvicorn server with aws-tokyo's certificate, as `yui run` serves it."""
    (port,) = free_ports(1)
    app = Starlette(routes=[Route("/echo", _echo, methods=["GET", "POST"])])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, **pki["aws-tokyo"].uvicorn_options()
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_sandbox_pki_is_private_and_complete(pki: dict[str, TlsFiles]) -> None:
    assert set(pki) == {"aws-tokyo", "gcp-osaka", OPERATOR}
    directory = pki["aws-tokyo"].ca.parent
    private = [files.key for files in pki.values()] + [directory / "ca-key.pem"]
    assert {path.stat().st_mode & 0o777 for path in private} == {0o600}


def test_a_peer_holding_the_ca_and_its_certificate_is_served(
    pki: dict[str, TlsFiles], https_site: str
) -> None:
    context = pki["gcp-osaka"].client_context()
    with httpx.Client(verify=context, trust_env=False) as http:
        answer = http.post(f"{https_site}/echo", content=b"hello")
    assert answer.json() == {"scheme": "https", "body": "hello"}


def test_strangers_are_refused(pki: dict[str, TlsFiles], https_site: str, tmp_path: Path) -> None:
    # a client that trusts the system's CAs does not trust the site (no public CA signed it)
    with httpx.Client(trust_env=False) as http, pytest.raises(httpx.ConnectError):
        http.get(f"{https_site}/echo")
    # plain HTTP to the site's port gets no answer
    with httpx.Client(trust_env=False) as http, pytest.raises(httpx.HTTPError):
        http.get(https_site.replace("https://", "http://") + "/echo")
    # a certificate from another CA is refused in the handshake
    other = generate_pki(tmp_path, ["gcp-osaka"])["gcp-osaka"]
    forged = TlsFiles(pki["gcp-osaka"].ca, other.cert, other.key).client_context()
    with httpx.Client(verify=forged, trust_env=False) as http, pytest.raises(httpx.HTTPError):
        http.get(f"{https_site}/echo")


def test_entry_batches_travel_over_tls(pki: dict[str, TlsFiles], https_site: str) -> None:
    port = int(https_site.rsplit(":", 1)[1])

    async def send(batches: BatchConnections) -> list[tuple[int, bytes]]:
        try:
            return [
                await batches.post("127.0.0.1", port, "/echo", {}, b"x%d" % n, 5.0, secure=True)
                for n in range(3)
            ]
        finally:
            await batches.aclose()

    answers = asyncio.run(send(BatchConnections(tls=pki["gcp-osaka"].client_context())))
    assert [status for status, _ in answers] == [200, 200, 200]
    assert b'"scheme":"https"' in answers[0][1]
    untrusting = ssl.create_default_context()  # the system's CAs only
    with pytest.raises(ssl.SSLError):
        asyncio.run(send(BatchConnections(tls=untrusting)))


TOPOLOGY = """
[[site]]
name = "aws-tokyo"
provider = "aws"
region = "ap-northeast-1"
hazard_zones = ["kanto"]
latitude = 35.68
longitude = 139.76
url = "https://127.0.0.1:8401"

[[site]]
name = "gcp-osaka"
provider = "gcp"
region = "asia-northeast2"
hazard_zones = ["kansai"]
latitude = 34.69
longitude = 135.50
url = "{osaka}"
"""


def test_http_peers_are_refused_unless_local_development_allows_them(tmp_path: Path) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(TOPOLOGY.format(osaka="http://127.0.0.1:8402"))
    settings = load_settings(site="aws-tokyo", topology_file=topology, data_dir=tmp_path)
    with pytest.raises(SettingsError, match=r"https:// only: http://127\.0\.0\.1:8402"):
        check_peer_urls(settings)
    check_peer_urls(settings.model_copy(update={"allow_plain_http_peers": True}))
    topology.write_text(TOPOLOGY.format(osaka="https://127.0.0.1:8402"))
    check_peer_urls(load_settings(site="aws-tokyo", topology_file=topology, data_dir=tmp_path))
    check_peer_urls(load_settings(data_dir=tmp_path))  # a lone site: no peers


def test_tls_needs_all_three_files(pki: dict[str, TlsFiles], tmp_path: Path) -> None:
    files = pki["aws-tokyo"]
    with pytest.raises(SettingsError, match="YUI_TLS_KEY_FILE"):
        load_settings(data_dir=tmp_path, tls_ca_file=files.ca, tls_cert_file=files.cert)
    settings = load_settings(
        data_dir=tmp_path, tls_ca_file=files.ca, tls_cert_file=files.cert, tls_key_file=files.key
    )
    assert settings.tls_files == files


def test_etcd_without_tls_is_refused_unless_local_development_allows_it(
    pki: dict[str, TlsFiles], tmp_path: Path
) -> None:
    plain = load_settings(data_dir=tmp_path, etcd_endpoints="127.0.0.1:2379")
    with pytest.raises(SettingsError, match="YUI_ETCD_CA_FILE"):
        check_peer_urls(plain)
    check_peer_urls(plain.model_copy(update={"allow_plain_http_peers": True}))
    files = pki["aws-tokyo"]
    with pytest.raises(SettingsError, match="YUI_ETCD_KEY_FILE"):
        load_settings(data_dir=tmp_path, etcd_ca_file=files.ca, etcd_cert_file=files.cert)
    secure = load_settings(
        data_dir=tmp_path,
        etcd_endpoints="127.0.0.1:2379",
        etcd_ca_file=files.ca,
        etcd_cert_file=files.cert,
        etcd_key_file=files.key,
    )
    check_peer_urls(secure)
    assert secure.etcd_tls_files == files
