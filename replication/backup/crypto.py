"""Encryption of backup objects before they leave the site: AES-256-GCM, a key per tenant.

Tenant keys are derived with HKDF-SHA256 from the platform's backup master key (held by
the operators: a file here, a KMS in production), so any site that holds the master
key can restore any tenant, and no tenant key is ever stored. An object is a sequence
of chunks (1 MiB of plaintext each) sealed with the STREAM construction: each chunk's
nonce is a random prefix and its index, and its associated data binds the object's
header (tenant, object name, key id), the index and whether it is the last chunk — so a
chunk changed, moved, dropped, or an object cut short or renamed, fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"YUIBK1\n"
CHUNK = 1 << 20
_LENGTH = struct.Struct(">I")


class BackupCorrupted(ValueError):
    """A backup object that does not decrypt, or is cut short: it is not used."""


class MasterKey:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the backup master key must be at least 32 bytes")
        self._secret = secret
        #: names the master key in each object (a rotated key is told apart, never guessed)
        self.key_id = hashlib.sha256(b"yui-backup-key-id" + secret).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(32)).decode())
        return cls(base64.b64decode(path.read_text().strip()))

    def tenant_key(self, tenant: str) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"yui-backup-v1", info=tenant.encode()
        ).derive(self._secret)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + _LENGTH.pack(index) + (b"\x01" if last else b"\x00")


def _chunks(stream: Iterable[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for data in stream:
        buffer += data
        while len(buffer) >= CHUNK:
            yield bytes(buffer[:CHUNK])
            del buffer[:CHUNK]
    yield bytes(buffer)


def encrypt(
    plaintext: Iterable[bytes], out: IO[bytes], master: MasterKey, tenant: str, name: str
) -> tuple[int, str]:
    """Write the sealed object to ``out``; returns (its size, its SHA-256)."""
    prefix = secrets.token_bytes(8)
    header = json.dumps(
        {
            "v": 1,
            "tenant": tenant,
            "object": name,
            "key_id": master.key_id,
            "nonce": base64.b64encode(prefix).decode(),
        },
        sort_keys=True,
    ).encode()
    aead = AESGCM(master.tenant_key(tenant))
    digest = hashlib.sha256()
    size = 0

    def emit(data: bytes) -> None:
        nonlocal size
        out.write(data)
        digest.update(data)
        size += len(data)

    emit(MAGIC + _LENGTH.pack(len(header)) + header)
    index, pending = 0, None
    for chunk in _chunks(plaintext):
        if pending is not None:
            sealed = aead.encrypt(prefix + _LENGTH.pack(index), pending, _aad(header, index, False))
            emit(_LENGTH.pack(len(sealed)) + sealed)
            index += 1
        pending = chunk
    sealed = aead.encrypt(prefix + _LENGTH.pack(index), pending or b"", _aad(header, index, True))
    emit(_LENGTH.pack(len(sealed)) + sealed)
    return size, digest.hexdigest()


def _read_exactly(stream: IO[bytes], count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise BackupCorrupted("the object is cut short")
    return data


def decrypt(stream: IO[bytes], master: MasterKey, tenant: str, name: str) -> Iterator[bytes]:
    """The plaintext of a sealed object, chunk by chunk; BackupCorrupted on any tampering
    (a caller must not act on the chunks until the iterator has ended cleanly)."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise BackupCorrupted(f"{name}: not a Yui backup object")
    (length,) = _LENGTH.unpack(_read_exactly(stream, 4))
    header = _read_exactly(stream, length)
    try:
        meta = json.loads(header)
        prefix = base64.b64decode(meta["nonce"])
    except (ValueError, KeyError):
        raise BackupCorrupted(f"{name}: unreadable header") from None
    if meta.get("tenant") != tenant or meta.get("object") != name:
        raise BackupCorrupted(f"{name}: the object belongs elsewhere ({meta.get('object')})")
    if meta.get("key_id") != master.key_id:
        raise BackupCorrupted(f"{name}: sealed with another master key ({meta.get('key_id')})")
    aead = AESGCM(master.tenant_key(tenant))
    index = 0
    raw = stream.read(4)
    while True:
        if len(raw) != 4:
            raise BackupCorrupted(f"{name}: the object is cut short")
        (length,) = _LENGTH.unpack(raw)
        sealed = _read_exactly(stream, length)
        raw = stream.read(4)
        last = raw == b""
        try:
            plain = aead.decrypt(prefix + _LENGTH.pack(index), sealed, _aad(header, index, last))
        except InvalidTag:
            raise BackupCorrupted(f"{name}: chunk {index} does not authenticate") from None
        yield plain
        if last:
            return
        index += 1
