"""Entry batches over kept-alive HTTP/1.1 connections, without httpx's per-request cost.

A primary sends every replica a batch per round trip (group commit): at a few hundred
writes a second that is hundreds of small signed POSTs, and httpx's request machinery
(its models, hooks, pool and h11 state machine) was ~30 % of the primary's CPU. A batch
needs none of it: one request line, a few headers, a body, and an answer with a
Content-Length. `BatchConnections` keeps a few open connections per peer and writes
and reads those bytes itself; the signature headers are the same as every other
replication request's (replication.protocol.signing), and so is the receiving endpoint.

``https://`` peers are spoken to over TLS with the site's client context (the sites'
CA, this site's certificate: yui.tls); ``http://`` ones in clear text (local
development only). A node given its own httpx client (tests that route requests in
memory) keeps using httpx.

A connection that was idle may have been closed by the peer meanwhile: a request on a
reused connection that gets no answer at all is sent again once on a new connection
(a batch is idempotent at the receiver: entries it holds are skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping

#: idle connections kept per peer (a stream has at most `window` batches in flight)
KEEP_PER_PEER = 8
#: the largest answer read (an Ack or a problem document is a few hundred bytes)
MAX_ANSWER_BYTES = 1024 * 1024


# Hand-parsed, not h11: h11 took ~170 µs of CPU per batch sent, this ~45 µs (2026-12-06).
class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, tls: ssl.SSLContext | None) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send ``request``; the answer's status, body, and whether to keep the connection."""
        self.writer.write(request)
        await self.writer.drain()
        reader = self.reader
        status_line = await reader.readline()
        if not status_line:
            raise _NoAnswer("the connection was closed before an answer")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ConnectionError(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ConnectionError("the connection was closed in the answer's headers")
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = b"close" not in value.lower()
        if chunked:
            body = await self._chunks()
        elif length is not None:
            if length > MAX_ANSWER_BYTES:
                raise ConnectionError(f"an answer of {length} bytes")
            body = await reader.readexactly(length)
        else:  # the body ends with the connection
            body = await reader.read(MAX_ANSWER_BYTES)
            keep = False
        return status, body, keep

    async def _chunks(self) -> bytes:
        body = bytearray()
        while True:
            size = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            if len(body) > MAX_ANSWER_BYTES:
                raise ConnectionError("an answer over the size limit")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _NoAnswer(ConnectionError):
    """Nothing came back: the peer closed an idle connection (resend on a new one)."""


class BatchConnections:
    """Kept-alive connections to the peers, for POSTs of entry batches."""

    def __init__(
        self, keep_per_peer: int = KEEP_PER_PEER, tls: ssl.SSLContext | None = None
    ) -> None:
        self.keep_per_peer = keep_per_peer
        #: for https:// peers: verifies them against the sites' CA, presents our certificate
        self.tls = tls
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}

    async def post(
        self,
        host: str,
        port: int,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        time_limit: float,
        *,
        secure: bool = False,
    ) -> tuple[int, bytes]:
        """POST ``body`` to ``target`` (path and query) at host:port, over TLS if
        ``secure``; (status, body).

        Raises OSError (ConnectionError, TimeoutError) when no answer comes."""
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        key = (host, port, secure)
        idle = self._idle.setdefault(key, [])
        async with asyncio.timeout(time_limit):
            while idle:  # a reused connection: the peer may have closed it meanwhile
                try:
                    return await self._exchange(key, idle.pop(), request)
                except (_NoAnswer, ConnectionResetError, BrokenPipeError):
                    continue
            if secure and self.tls is None:
                raise ConnectionError("an https:// peer, and no TLS context for it")
            connection = await _Connection.open(host, port, self.tls if secure else None)
            return await self._exchange(key, connection, request)

    async def _exchange(
        self, key: tuple[str, int, bool], connection: _Connection, request: bytes
    ) -> tuple[int, bytes]:
        try:
            status, body, keep = await connection.exchange(request)
        except (asyncio.IncompleteReadError, ValueError) as error:
            connection.close()
            raise ConnectionError(f"a broken answer: {error}") from None
        except BaseException:
            connection.close()
            raise
        idle = self._idle.setdefault(key, [])
        if keep and len(idle) < self.keep_per_peer:
            idle.append(connection)
        else:
            connection.close()
        return status, body

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
