"""The image's HEALTHCHECK, run as Docker runs it, against a real HTTPS server with the
certificates `yui deploy secrets` makes: healthy on 200 from /readyz, unhealthy on 503, on
a certificate of another CA, and when nothing listens."""

from __future__ import annotations

import http.server
import json
import os
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assembly.sandbox.etcd import free_ports
from tests.deploy.support import ROOT
from yui.tls import TlsFiles, generate_pki


def _healthcheck_argv() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert found, "no HEALTHCHECK CMD [...] in the Dockerfile"
    argv: list[str] = json.loads(found.group(1))
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


class _Ready(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_node(tmp_path: Path) -> Iterator[tuple[int, TlsFiles]]:
    files = generate_pki(tmp_path / "tls", ["aws-tokyo"])["aws-tokyo"]
    (port,) = free_ports(1)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Ready)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port, files
    finally:
        server.shutdown()
        server.server_close()


def _check(port: int, ca: Path) -> int:
    env = {**os.environ, "YUI_PORT": str(port), "YUI_TLS_CA_FILE": str(ca)}
    return subprocess.run(_healthcheck_argv(), env=env, capture_output=True, timeout=20).returncode


def test_healthy_when_readyz_answers_200(https_node: tuple[int, TlsFiles]) -> None:
    port, files = https_node
    _Ready.status = 200
    assert _check(port, files.ca) == 0


def test_unhealthy_when_not_ready(https_node: tuple[int, TlsFiles]) -> None:
    port, files = https_node
    _Ready.status = 503
    try:
        assert _check(port, files.ca) != 0
    finally:
        _Ready.status = 200


def test_unhealthy_with_a_certificate_of_another_ca(
    https_node: tuple[int, TlsFiles], tmp_path: Path
) -> None:
    port, _ = https_node
    other = generate_pki(tmp_path / "other", ["aws-tokyo"])["aws-tokyo"]
    assert _check(port, other.ca) != 0


def test_unhealthy_when_nothing_listens(tmp_path: Path) -> None:
    files = generate_pki(tmp_path / "tls", ["aws-tokyo"])["aws-tokyo"]
    (port,) = free_ports(1)
    assert _check(port, files.ca) != 0
