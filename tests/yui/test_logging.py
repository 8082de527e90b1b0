"""A node's logs are written by a thread of their own (yui.logging): a log stream that
blocks (stderr is a pipe under Docker or systemd, and its reader may be slow) must not
hold the code that logs — on a node, its event loop."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from yui.logging import configure, flush, request_id, stop


class BlockedStream(io.StringIO):
    """A stream whose writes wait until it is opened, as a full pipe does."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = threading.Event()

    def write(self, text: str) -> int:
        self.opened.wait(10)
        return super().write(text)


@pytest.fixture
def root_saved() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        yield
    finally:
        stop()
        root.handlers[:], level = saved
        root.setLevel(level)


def test_logging_does_not_wait_for_a_blocked_stream(root_saved: None) -> None:
    stream = BlockedStream()
    configure("test-site", "INFO", json_lines=True, stream=stream)
    log = logging.getLogger("yui.test")
    token = request_id.set("req-1")
    try:
        started = time.monotonic()
        for n in range(50):
            log.warning("record %d", n)
        took = time.monotonic() - started
    finally:
        request_id.reset(token)
    assert took < 1.0  # before: the first write waited for the stream (10 s)

    stream.opened.set()
    flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == [f"record {n}" for n in range(50)]
    # formatted where it was logged: the request in hand is named
    assert {(line["request_id"], line["site"], line["level"]) for line in lines} == {
        ("req-1", "test-site", "warning")
    }


def test_an_error_keeps_its_traceback(root_saved: None) -> None:
    stream = io.StringIO()
    configure("test-site", "INFO", json_lines=True, stream=stream)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("yui.test").exception("it failed")
    logging.getLogger("yui.test").debug("below the level")
    flush()
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["msg"] == "it failed" and "ValueError: broken" in line["exc"]
