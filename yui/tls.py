"""TLS between sites: a private CA, each site's certificate, and the contexts that use them.

A site node serves HTTPS with its certificate and asks every client for one, verified
against the configured CA when presented (staff browsers present none: the same port
serves them). Every site-to-site call (replication, the gateway's forwarding, the
failsafe peer probe, the controller's copies) verifies the peer against that CA only —
not the system's CAs — and presents this site's certificate. The sandbox makes the CA
and the certificates as it makes the sites' Ed25519 keys (`generate_pki`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: how long the sandbox's certificates are valid (a sandbox lives hours, not years)
SANDBOX_VALIDITY = datetime.timedelta(days=30)
#: the certificate of the people and tools that speak to the sites (CLI, drills, tests)
OPERATOR = "operator"


class TlsError(Exception):
    """A TLS setting is missing or wrong; the message names the setting."""


@dataclass(frozen=True)
class TlsFiles:
    """A CA certificate, and a certificate with its private key signed by that CA."""

    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """Verifies the peer against the CA only, and presents our certificate."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert), str(self.key))
        return context

    def server_context(self) -> ssl.SSLContext:
        """Our certificate; a client's is asked for and verified against the CA if given."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert), str(self.key))
        context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.run's options that serve HTTPS with these files."""
        return {
            "ssl_certfile": str(self.cert),
            "ssl_keyfile": str(self.key),
            "ssl_ca_certs": str(self.ca),
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        }


def plain_http_peers(urls: Iterable[str]) -> list[str]:
    """The URLs among ``urls`` that are not https://."""
    return [url for url in urls if urlsplit(url).scheme != "https"]


# --------------------------------------------------------------------------- the sandbox's PKI


def _write_private(path: Path, data: bytes) -> None:
    """Created with mode 0600 before any byte is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Yui sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Yui sandbox CA"))
        .issuer_name(_name("Yui sandbox CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + SANDBOX_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issue(
    directory: Path,
    name: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    hosts: Iterable[str],
) -> TlsFiles:
    """A certificate for ``name``, valid as server (for ``hosts``) and as client."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alternative.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + SANDBOX_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / f"{name}.crt", directory / f"{name}.key")
    _write_private(files.key, _key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def generate_pki(
    directory: Path, sites: Iterable[str], addresses: Mapping[str, str] | None = None
) -> dict[str, TlsFiles]:
    """For a sandbox on loopback: a private CA (``ca.pem``, its key 0600), and for each
    site and for ``operator`` a certificate for localhost and 127.0.0.1 (and the site's
    address in ``addresses``: a site in a network namespace), usable as server and as
    client. The CA is kept if present; the certificates are made anew."""
    ca = _load_ca(directory)
    extra = addresses or {}
    return {
        name: _issue(
            directory,
            name,
            ca,
            (name, "localhost", "127.0.0.1", *([extra[name]] if name in extra else [])),
        )
        for name in [*sites, OPERATOR]
    }


# --------------------------------------------------------------------------- this process's peers

#: the context of this site's calls to other sites; set once at start-up (`use_for_peers`)
_peer_context: ssl.SSLContext | None = None


def client_verify(files: TlsFiles | None) -> ssl.SSLContext | bool:
    """An httpx client's ``verify`` for calls to the sites: the platform's CA only, with
    our certificate (mutual TLS); without TLS files, the system's CAs."""
    return files.client_context() if files is not None else True


def use_for_peers(files: TlsFiles | None) -> None:
    """Every later site-to-site client of this process verifies peers against ``files``'s
    CA and presents its certificate (None: the system's CAs, no certificate)."""
    global _peer_context
    _peer_context = files.client_context() if files is not None else None


def peer_context() -> ssl.SSLContext | None:
    return _peer_context


def peer_verify() -> ssl.SSLContext | bool:
    """httpx's ``verify`` for a call to another site."""
    return _peer_context if _peer_context is not None else True
