"""Mutual TLS between sites on a node's one port (a real uvicorn, served as `yui run`
serves it): a replication request or a forward from a peer without a client certificate
of the sites' CA is refused with 403 problem+json and writes nothing; with one it is
served; the public API still takes clients without a certificate (phones have none)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from assembly.cli.main import uvicorn_options
from assembly.sandbox.etcd import free_ports
from assembly.site import create_app
from replication.node import ReplicationNode
from replication.ports import StaticPeers
from replication.protocol.signing import SiteKey, TrustStore, generate_key
from replication.sql import reading
from replication.state import read
from tests.conftest import TEST_SECRET
from tests.replication.memory import MemoryPlacements
from yui.db.database import Database
from yui.http.peer_certificates import SLUG
from yui.settings import Settings, load_settings
from yui.tls import OPERATOR, TlsFiles, generate_pki

SENDAI = "041009"
HERE, PEER = "aws-tokyo", "gcp-osaka"
SEAL = f"/replication/v1/{SENDAI}/seal"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    return generate_pki(tmp_path_factory.mktemp("pki"), [HERE, PEER])


@pytest.fixture
def site(pki: dict[str, TlsFiles], tmp_path: Path) -> Iterator[tuple[str, Database, SiteKey]]:
    """aws-tokyo with its replication endpoints over HTTPS; yields its URL, its database
    and gcp-osaka's signing key (a trusted peer: only TLS decides)."""
    keys = {name: SiteKey(name, generate_key()) for name in (HERE, PEER)}
    trust = TrustStore.from_mapping({name: key.public_key_b64 for name, key in keys.items()})
    files = pki[HERE]
    url = f"sqlite:///{tmp_path / 'here.db'}"
    settings = load_settings(
        site=HERE,
        data_dir=tmp_path,
        database_url=url,
        token_secret=TEST_SECRET,
        log_json=False,
        tls_ca_file=files.ca,
        tls_cert_file=files.cert,
        tls_key_file=files.key,
    )
    db = Database(url)
    node = ReplicationNode(
        site=HERE,
        db=db,
        key=keys[HERE],
        trust=trust,
        placements=MemoryPlacements(),
        peers=StaticPeers({PEER: "https://127.0.0.1:1"}),
    )
    with _Served(create_app(settings, db, replication=node), settings) as base:
        yield base, db, keys[PEER]
    db.dispose()


class _Served:
    """The app behind a real uvicorn with the options `yui run` uses."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        (self.port,) = free_ports(1)
        options = {**uvicorn_options(settings), "host": "127.0.0.1", "port": self.port}
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30  # generous: a loaded machine
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return f"https://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def _seal(base: str, key: SiteKey, verify: ssl.SSLContext, epoch: int) -> httpx.Response:
    body = json.dumps({"epoch": epoch}).encode()
    headers = {**key.headers("POST", SEAL, body), "content-type": "application/json"}
    with httpx.Client(verify=verify, trust_env=False, timeout=30) as http:
        return http.post(base + SEAL, content=body, headers=headers)


def _sealed_epoch(db: Database) -> int:
    with reading(db.engine) as connection:
        return read(connection, SENDAI).sealed_epoch


def _ca_only(files: TlsFiles) -> ssl.SSLContext:
    """A client that verifies the site against the CA and presents no certificate."""
    return ssl.create_default_context(cafile=str(files.ca))


def test_a_replication_request_without_a_client_certificate_is_refused_and_writes_nothing(
    pki: dict[str, TlsFiles], site: tuple[str, Database, SiteKey]
) -> None:
    base, db, peer_key = site
    refused = _seal(base, peer_key, _ca_only(pki[PEER]), epoch=7)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith(SLUG)
    assert _sealed_epoch(db) == 0  # signed by a trusted site, yet nothing was sealed
    served = _seal(base, peer_key, pki[PEER].client_context(), epoch=7)
    assert served.status_code == 200, served.text
    assert _sealed_epoch(db) == 7


def test_a_forward_without_a_client_certificate_is_refused_the_api_is_not(
    pki: dict[str, TlsFiles], site: tuple[str, Database, SiteKey]
) -> None:
    base, _, _ = site
    with httpx.Client(verify=_ca_only(pki[OPERATOR]), trust_env=False, timeout=30) as phone:
        assert phone.get(base + "/healthz").status_code == 200  # no certificate: the API serves
        forward = phone.post(
            base + f"/api/v1/{SENDAI}/residents",
            json={},
            headers={"x-yui-forwarded-by": PEER, "x-yui-forwarded-at": str(int(time.time()))},
        )
    assert forward.status_code == 403, forward.text
    assert forward.json()["type"].endswith(SLUG)
    with httpx.Client(verify=pki[OPERATOR].client_context(), trust_env=False, timeout=30) as http:
        assert http.get(base + "/healthz").status_code == 200
