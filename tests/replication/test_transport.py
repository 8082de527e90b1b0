"""Entry batches over kept-alive connections (replication.protocol.transport), against a real
socket server: answers are read whole, an idle connection the peer closed is replaced
without losing the request, and a peer that never answers ends in a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from replication.ports import StaticPeers
from replication.protocol.client import PeerClient
from replication.protocol.signing import SiteKey, generate_key
from replication.protocol.transport import BatchConnections

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _request(reader: asyncio.StreamReader) -> bytes:
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_kept_alive_connection_and_a_closed_idle_one_is_replaced() -> None:
    async def run() -> None:
        connections: list[int] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            answered = 0
            while True:
                try:
                    body = await _request(reader)
                except asyncio.IncompleteReadError:
                    break
                reply = b'{"echo":' + body + b"}"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply)
                )
                await writer.drain()
                answered += 1
                if answered == 2:  # as a keep-alive timeout would: close after two
                    break
            writer.close()

        server, port = await _serve(handler)
        batches = BatchConnections()
        try:
            answers = [
                await batches.post("127.0.0.1", port, "/x", {}, f"{n}".encode(), 5.0)
                for n in range(5)
            ]
        finally:
            await batches.aclose()
            server.close()
        assert answers == [(200, b'{"echo":%d}' % n) for n in range(5)]
        assert len(connections) == 3  # two requests per connection, none lost

    asyncio.run(run())


def test_chunked_answer_and_error_status() -> None:
    async def run() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _request(reader)
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
            )
            await writer.drain()
            writer.close()

        server, port = await _serve(handler)
        batches = BatchConnections()
        try:
            assert await batches.post("127.0.0.1", port, "/x", {}, b"{}", 5.0) == (
                503,
                b'{"a": 1}',
            )
        finally:
            await batches.aclose()
            server.close()

    asyncio.run(run())


def test_a_peer_that_never_answers_times_out() -> None:
    async def run() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _request(reader)
            await asyncio.sleep(10)

        server, port = await _serve(handler)
        batches = BatchConnections()
        try:
            with pytest.raises(TimeoutError):
                await batches.post("127.0.0.1", port, "/x", {}, b"{}", 0.3)
        finally:
            await batches.aclose()
            server.close()

    asyncio.run(run())


def test_a_peers_url_follows_its_address() -> None:
    """The URLs of batches are parsed once per address and path: a peer that moves is
    reached at its new address, and a query is never taken from the parsed ones."""
    addresses = {"site-b": "http://127.0.0.1:8001/"}
    client = PeerClient(
        SiteKey("site-a", generate_key()), StaticPeers(addresses), httpx.AsyncClient()
    )
    assert str(client.url("site-b", "/041009/entries")) == (
        "http://127.0.0.1:8001/replication/v1/041009/entries"
    )
    addresses["site-b"] = "http://127.0.0.2:9001"
    assert client.url("site-b", "/041009/entries").host == "127.0.0.2"
    assert client.url("site-b", "/041009/entries").port == 9001
    assert client.url("site-b", "/status", {"tenant": "041009"}).query == b"tenant=041009"
    assert client.url("site-b", "/status").query == b""
