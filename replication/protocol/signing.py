"""Sites authenticate each other by signing every replication request (Ed25519).

Each site holds one private key (PEM, mode 0600); each site lists the public keys of
the sites it trusts in a small TOML file (``[sites]`` name = key, or a list of keys
while one is being rotated). A request carries the sending site's name, the time,
and a signature over the method, the path with its query, the site, the time and the
SHA-256 of the body — so the body is bound to the sender end to end, whatever proxy
terminates TLS on the way. A streamed body (a snapshot) is signed in its last line
instead: the header's signature then covers ``STREAMING`` and the trailer covers the
hash of every byte before it. docs/replication.md says why this and not mutual TLS.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import os
import secrets
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from yui.errors import YuiError

SITE_HEADER = "x-yui-replication-site"
TIME_HEADER = "x-yui-replication-time"
SIGNATURE_HEADER = "x-yui-replication-signature"
NONCE_HEADER = "x-yui-replication-nonce"
CONTENT_HEADER = "x-yui-content-sha256"
STREAMING = "STREAMING"
#: how far the sender's clock may be from ours
DEFAULT_SKEW_SECONDS = 300
#: accepted nonces remembered at most (~100 bytes each); see ReplayGuard
DEFAULT_REPLAY_MEMORY = 200_000


class SignatureError(YuiError):
    """The request is not signed by a site this site trusts."""

    status = 401
    slug = "site-signature"
    title = "サイト署名が正しくありません / Site signature not accepted"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def signing_input(
    method: str, target: str, site: str, timestamp: str, nonce: str, content: str
) -> bytes:
    """What a signature covers. ``target`` is the path with its query string."""
    return "\n".join(
        ("yui-replication-v2", method.upper(), target, site, timestamp, nonce, content)
    ).encode()


def trailer_input(header_signature: str, body_sha256: str) -> bytes:
    """What a streamed body's trailer signature covers: the request's own header
    signature (binding method, path, site and time) and the hash of the body."""
    return "\n".join(("yui-replication-v1-trailer", header_signature, body_sha256)).encode()


@dataclass(frozen=True)
class SiteKey:
    """This site's identity: its name and private key."""

    site: str
    private_key: Ed25519PrivateKey

    @property
    def public_key_b64(self) -> str:
        return public_key_text(self.private_key.public_key())

    def sign(self, data: bytes) -> str:
        return _b64(self.private_key.sign(data))

    def headers(
        self, method: str, target: str, body: bytes | None, *, now: float | None = None
    ) -> dict[str, str]:
        """The signature headers of a request (``body`` None: a streamed body)."""
        timestamp = str(int(now if now is not None else time.time()))
        nonce = secrets.token_urlsafe(16)
        content = STREAMING if body is None else hashlib.sha256(body).hexdigest()
        signature = self.sign(signing_input(method, target, self.site, timestamp, nonce, content))
        return {
            SITE_HEADER: self.site,
            TIME_HEADER: timestamp,
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: signature,
            CONTENT_HEADER: content,
        }


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def parse_public_key(text: str) -> Ed25519PublicKey:
    raw = _unb64(text.strip())
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


class ReplayGuard:
    """The nonces of the requests accepted while their time is inside the clock window.

    A nonce is remembered until its request's time leaves the window (at most
    2 × skew after it was accepted, ~skew for a sender whose clock agrees with ours):
    the memory is the request rate × that time. It is also capped at ``capacity``
    entries: when full, the oldest-timed nonce is forgotten and every request timed at
    or before it is refused from then on as too old (``floor``), so a forgotten nonce
    can never be replayed; under a rate above capacity / window the window only narrows
    (a refused sender signs its next try afresh).

    The memory is the process's: a request signed before the guard was made (the site's
    start, less a second) is refused too, so a restart does not reopen the window."""

    def __init__(self, capacity: int = DEFAULT_REPLAY_MEMORY, floor: int | None = None) -> None:
        self.capacity = capacity
        self.floor = int(time.time()) - 1 if floor is None else floor
        self._seen: set[str] = set()
        self._by_time: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def fresh(self, timestamp: int, nonce: str, now: float, skew: int) -> bool:
        """Record ``nonce``; False if it was seen, or its time is at or below the floor."""
        by_time = self._by_time
        while by_time and by_time[0][0] < now - skew:  # refused by the clock window now
            self._seen.discard(heapq.heappop(by_time)[1])
        if timestamp <= self.floor or nonce in self._seen:
            return False
        while len(by_time) >= self.capacity:
            oldest, forgotten = heapq.heappop(by_time)
            self._seen.discard(forgotten)
            self.floor = max(self.floor, oldest)
        if timestamp <= self.floor:
            return False
        self._seen.add(nonce)
        heapq.heappush(by_time, (timestamp, nonce))
        return True


@dataclass
class TrustStore:
    """The sites this site accepts requests from, with their public keys."""

    keys: dict[str, list[Ed25519PublicKey]] = field(default_factory=dict)
    skew_seconds: int = DEFAULT_SKEW_SECONDS
    replays: ReplayGuard = field(default_factory=ReplayGuard)

    @classmethod
    def from_mapping(cls, sites: Mapping[str, str | Iterable[str]]) -> TrustStore:
        keys: dict[str, list[Ed25519PublicKey]] = {}
        for site, value in sites.items():
            texts = [value] if isinstance(value, str) else list(value)
            keys[site] = [parse_public_key(text) for text in texts]
        return cls(keys)

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        data = tomllib.loads(path.read_text("utf-8"))
        sites = data.get("sites", {})
        if not isinstance(sites, dict):
            raise ValueError(f"{path}: [sites] must be a table of site = public key")
        return cls.from_mapping(sites)

    def verify(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        now: float | None = None,
    ) -> str:
        """The verified sending site, or SignatureError. ``body`` None: streamed."""
        site = headers.get(SITE_HEADER, "")
        timestamp = headers.get(TIME_HEADER, "")
        signature = headers.get(SIGNATURE_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
        content = headers.get(CONTENT_HEADER, "")
        if not (site and timestamp and signature and nonce and content):
            raise SignatureError("署名がありません / the request is not signed by a site")
        keys = self.keys.get(site)
        if not keys:
            raise SignatureError(f"サイト {site} は信頼されていません / site {site} is not trusted")
        now = now if now is not None else time.time()
        if not timestamp.isdigit() or abs(int(timestamp) - now) > self.skew_seconds:
            raise SignatureError(
                "署名の時刻が範囲外です / the signature's time is too far from ours (clock skew or replay)"
            )
        if body is None:
            if content != STREAMING:
                raise SignatureError("a streamed body must be signed as STREAMING")
        elif content != hashlib.sha256(body).hexdigest():
            raise SignatureError("本文が署名と一致しません / the body does not match its signature")
        if len(nonce) > 64 or not verify_with(
            keys, signing_input(method, target, site, timestamp, nonce, content), signature
        ):
            raise SignatureError(f"サイト {site} の署名が不正です / bad signature for site {site}")
        # Only a genuine request's nonce is remembered: a forger cannot fill the memory.
        if not self.replays.fresh(int(timestamp), nonce, now, self.skew_seconds):
            raise SignatureError(
                "再送された要求か、このサイトの起動前に署名された要求です / a replayed request, or "
                "one signed before this site started: sign it afresh"
            )
        return site

    def verify_trailer(
        self, site: str, header_signature: str, body_sha256: str, signature: str
    ) -> None:
        if not verify_with(
            self.keys.get(site, []), trailer_input(header_signature, body_sha256), signature
        ):
            raise SignatureError(
                f"ストリームの署名が不正です / bad stream trailer signature from {site}"
            )


def verify_with(keys: Iterable[Ed25519PublicKey], data: bytes, signature: str) -> bool:
    try:
        raw = _unb64(signature)
    except ValueError:
        return False
    for key in keys:
        try:
            key.verify(raw, data)
        except InvalidSignature:
            continue
        return True
    return False


# --------------------------------------------------------------------------- key files


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """PEM (PKCS#8), created with mode 0600 before any byte is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


def load_site_key(site: str, path: Path) -> SiteKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return SiteKey(site, key)


def load_or_create_site_key(site: str, path: Path) -> SiteKey:
    if not path.exists():
        write_private_key(path, generate_key())
    return load_site_key(site, path)


def trust_file_text(public_keys: Mapping[str, str]) -> str:
    lines = [
        "# Sites this site accepts replication requests from: name = Ed25519 public key",
        "[sites]",
    ]
    lines += [f'"{site}" = "{key}"' for site, key in sorted(public_keys.items())]
    return "\n".join(lines) + "\n"


def generate_site_keys(directory: Path, sites: Iterable[str]) -> dict[str, Path]:
    """For a sandbox: a key per site (``<site>.pem``) and one ``trusted-sites.toml``
    listing them all. Existing keys are kept. Returns each site's key path."""
    paths: dict[str, Path] = {}
    public: dict[str, str] = {}
    for site in sites:
        path = directory / f"{site}.pem"
        key = load_or_create_site_key(site, path)
        paths[site] = path
        public[site] = key.public_key_b64
    (directory / "trusted-sites.toml").write_text(trust_file_text(public))
    return paths
