"""A local HTTP receiver for webhook tests: a real HTTP server in a thread that keeps one
message per idempotency key, refuses a stale epoch (409) and can fail on purpose."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    #: one body per key, in arrival order
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)
    posts: int = 0
    duplicates: int = 0
    epochs: dict[str, int] = field(default_factory=dict)
    #: answers to give before the normal ones (e.g. [503, 503])
    fail_with: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def _answer(self, code: int, text: str = "") -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with received.lock:
                received.posts += 1
                if received.fail_with:
                    self._answer(received.fail_with.pop(0), "try later")
                    return
                body = json.loads(raw)
                if body["to"].endswith("@refused.invalid"):
                    self._answer(400, "no such user")
                    return
                tenant, epoch = body["tenant"], int(self.headers["X-Yui-Fencing-Epoch"])
                if epoch < received.epochs.get(tenant, 0):
                    self._answer(409, "stale-epoch")
                    return
                received.epochs[tenant] = epoch
                key = self.headers["Idempotency-Key"]
                if key in received.by_key:
                    received.duplicates += 1
                else:
                    received.by_key[key] = body
                    received.headers[key] = dict(self.headers.items())
                    received.raw[key] = raw
            self._answer(200, "ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
