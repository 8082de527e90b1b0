"""A local SMTP sink: a real SMTP server (aiosmtpd) that stores each message as a file in
a folder, one file per idempotency key. The sandbox starts one per site; tests and
bench/fanout.py start their own.

- One message per key: a message is stored as ``<sha256 of its Idempotency-Key>.eml``,
  created exclusively, so a resend (a job step run again after a failover) is accepted
  (250) and counted in ``duplicates.log``, never stored twice.
- Fencing: the sink keeps the highest ``X-Yui-Fencing-Epoch`` it has seen per tenant
  and refuses a lower one (550 ... stale fencing epoch), as a receiver may: a deposed
  primary's late send is refused and its step stops.

Run: ``python -m safety_check.channels.sink --folder DIR --port N``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from safety_check.channels.base import EPOCH_HEADER, KEY_HEADER, TENANT_HEADER
from safety_check.channels.smtp import STALE_EPOCH_REPLY

DUPLICATES = "duplicates.log"


def stored_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest() + ".eml"


class SinkHandler:
    def __init__(self, folder: Path, refuse: Callable[[str], bool] = lambda _to: False) -> None:
        self.folder = folder
        self.refuse = refuse
        self.epochs: dict[str, int] = {}
        self.stored = 0
        self.duplicates = 0
        self._lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # it takes pipelined commands in order (an asyncio stream read line by line), so it
        # says so: a sender then needs two round trips a message instead of four
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse(address):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        headers = header_values(content, (KEY_HEADER, TENANT_HEADER, EPOCH_HEADER))
        key = headers.get(KEY_HEADER) or hashlib.sha256(content).hexdigest()
        tenant = headers.get(TENANT_HEADER, "")
        try:
            epoch = int(headers.get(EPOCH_HEADER) or "0")
        except ValueError:
            return "501 5.5.4 bad fencing epoch"
        with self._lock:
            if epoch < self.epochs.get(tenant, 0):
                return f"550 5.7.0 {STALE_EPOCH_REPLY} {epoch} < {self.epochs[tenant]}"
            self.epochs[tenant] = epoch
        path = self.folder / stored_name(key)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            with self._lock:
                self.duplicates += 1
                with (self.folder / DUPLICATES).open("a") as log:
                    log.write(key + "\n")
            return "250 OK already delivered"
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        with self._lock:
            self.stored += 1
        return "250 OK"


def header_values(content: bytes, names: tuple[str, ...]) -> dict[str, str]:
    """The values of a few unfolded ASCII headers of ours (key, epoch, tenant), read by a
    plain scan of the header block: the sink takes thousands of messages a second."""
    block = content.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    wanted = {name.lower().encode(): name for name in names}
    found: dict[str, str] = {}
    for line in block.splitlines():
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in wanted:
            found[wanted[name.strip().lower()]] = value.strip().decode("ascii", "replace")
    return found


class SmtpSink:
    """The sink in a thread of this process (tests, benchmarks)."""

    def __init__(
        self,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        refuse: Callable[[str], bool] = lambda _to: False,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.host = host
        self.port = port or free_port(host)
        self.handler = SinkHandler(folder, refuse)
        self._controller = Controller(
            self.handler, hostname=host, port=self.port, data_size_limit=1_048_576
        )

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def stored_messages(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))


def duplicate_keys(folder: Path) -> list[str]:
    path = folder / DUPLICATES
    return path.read_text().splitlines() if path.exists() else []


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="local SMTP sink (one file per message key)")
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with SmtpSink(options.folder, host=options.host, port=options.port):
        print(f"SMTP sink {options.host}:{options.port} -> {options.folder}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
