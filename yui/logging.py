"""Structured logs: one JSON object per line, with the request id of the request in hand.

A record is formatted where it is logged (the request id is a context variable there)
and written by a thread of its own: a node's event loop never waits on its log stream.
Under Docker or systemd stderr is a pipe, and a slow reader of that pipe would otherwise
hold the loop (lease renewals, probes, every request) for as long as a write blocks.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from queue import SimpleQueue
from typing import TextIO

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, site: str) -> None:
        super().__init__()
        self.site = site

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "site": self.site,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(
    site: str, level: str = "INFO", json_lines: bool = True, stream: TextIO | None = None
) -> None:
    """Log records of ``level`` and above to ``stream`` (stderr), as JSON lines or plain."""
    global _listener
    stop()
    handler = QueueHandler(SimpleQueue())
    if json_lines:
        handler.setFormatter(JsonFormatter(site))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    writer = logging.StreamHandler(sys.stderr if stream is None else stream)
    writer.setFormatter(logging.Formatter("%(message)s"))  # formatted by the handler already
    _listener = QueueListener(handler.queue, writer)
    _listener.start()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our middleware logs each request once, with its id and without its path or query;
    # uvicorn's access log and httpx's request log (a forwarded search: names in the URL)
    # would write the URL itself.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


#: the thread that writes the records out (None until :func:`configure`)
_listener: QueueListener | None = None


def flush() -> None:
    """Write out every record logged so far (tests read the stream after this)."""
    if _listener is not None:
        _listener.stop()  # drains the queue, then ends the thread
        _listener.start()


def stop() -> None:
    """Write out what is queued and end the writing thread (at exit, or reconfigured)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def _restart_in_child() -> None:
    """A forked child has the queue but not the thread: it gets a thread of its own."""
    global _listener
    if _listener is not None:
        _listener = QueueListener(_listener.queue, *_listener.handlers)
        _listener.start()


atexit.register(stop)
os.register_at_fork(after_in_child=_restart_in_child)
