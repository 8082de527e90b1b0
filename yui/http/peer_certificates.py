"""Mutual TLS for the site-to-site requests of a node that serves everything on one port.

Citizens' phones and staff browsers have no client certificate, so the port asks for one
without requiring it (``ssl.CERT_OPTIONAL``: a certificate that does not verify against
the sites' CA still fails the handshake). What the connection presented is put in each
request's scope as the ASGI TLS extension (``scope["extensions"]["tls"]``), which
uvicorn's own protocol does not fill: ``PeerCertificateProtocol``. ``RequirePeerCertificate``
then refuses, before anything reads the body or runs, a request on a site-to-site path
(replication) or one marked as forwarded by another site that came without a verified
certificate.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from yui.http.problems import problem_response

#: the slug of the refusal's problem type
SLUG = "client-certificate-required"


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension of a connection (None: not TLS). A client certificate is in
    ``client_cert_chain`` only when the handshake verified it against the CA."""
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    details = ssl_object.getpeercert() if der else None
    return {
        "server_cert": None,
        # getpeercert() is non-empty only for a certificate the handshake verified
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der and details else [],
        "client_cert_name": _distinguished_name(details) if details else None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


def _distinguished_name(details: dict[str, Any]) -> str:
    names = {"commonName": "CN", "organizationName": "O"}
    return ",".join(
        f"{names.get(key, key)}={value}" for rdn in details.get("subject", ()) for key, value in rdn
    )


class PeerCertificateProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, each request's scope carrying the connection's TLS
    extension (the handshake is over when ``connection_made`` runs)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = tls_extension(transport)
        if tls is not None:
            self.app = _with_tls(self.app, tls)


def _with_tls(app: ASGIApp, tls: dict[str, Any]) -> ASGIApp:
    async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}
        await app(scope, receive, send)

    return with_tls


def verified_peer(scope: Scope) -> str | None:
    """The distinguished name of the client certificate the connection's handshake
    verified, or None (no TLS, no certificate, or a server that does not tell)."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    if tls.get("client_cert_chain") and not tls.get("client_cert_error"):
        return str(tls.get("client_cert_name") or "")
    return None


class RequirePeerCertificate:
    """403 problem+json for a site-to-site request without a verified client certificate:
    a path under one of ``prefixes``, or a request carrying one of ``headers`` (the
    gateway's forwarding marks). Installed only on a node that serves TLS."""

    def __init__(self, app: ASGIApp, prefixes: Sequence[str], headers: Sequence[bytes]) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)
        self.headers = frozenset(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._site_to_site(scope) and verified_peer(scope) is None:
            await problem_response(
                403,
                "サイト間の要求にはサイトの CA が署名したクライアント証明書が必要です。何も"
                "読み書きしていません / a site-to-site request needs a client certificate "
                "signed by the sites' CA; nothing was read or written",
                slug=SLUG,
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _site_to_site(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path.startswith(self.prefixes):
            return True
        return any(name in self.headers for name, _ in scope["headers"])
