"""The client's address, believed only from configured proxies (YUI_TRUSTED_PROXIES).

uvicorn's own proxy handling is off (`proxy_headers=False`): by default it trusts
X-Forwarded-For from loopback, so anything on the machine could choose the address that
sign-in limits count and the audit log records. Here X-Forwarded-For is read only when the
peer is a configured proxy, and from the right: the first address that is not itself a
trusted proxy is the client (addresses further left were written by the client).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """'10.0.0.1, 192.168.0.0/16' → networks; ValueError naming the bad entry."""
    networks = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {part!r}") from None
    return tuple(networks)


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_from(peer: str, forwarded_for: str, networks: tuple[Network, ...]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy and says whom it
    forwards for."""
    if not networks or not _trusted(peer, networks):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a mangled header: count the proxy, not a made-up address
        if not _trusted(hop, networks):
            return hop
    return peer


class TrustedProxies:
    """Sets the ASGI scope's client to the address a trusted proxy forwarded for."""

    def __init__(self, app: ASGIApp, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.networks and scope.get("client"):
            peer = str(scope["client"][0])
            forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
            client = client_from(peer, forwarded.decode("latin-1"), self.networks)
            if client != peer:  # in place: the access log outside reads the routed scope
                scope["client"] = (client, 0)
        await self.app(scope, receive, send)
