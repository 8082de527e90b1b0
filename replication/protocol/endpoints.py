"""What every ``/replication/v1`` endpoint shares: the prefix, the tenant in the path, the
signed sending site (a FastAPI dependency: every request must be signed by a trusted
site, replication.protocol.signing) and the parsing of a body into a message.

The composition root puts the site's replication node in ``app.state.replication``
(``replication.api.include``); the dependencies take what they need from it.

(No ``from __future__ import annotations`` here: FastAPI resolves the dependencies'
annotations at runtime.)
"""

from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Path, Request
from pydantic import ValidationError

from replication.protocol.signing import TrustStore
from yui.errors import InvalidInput

PREFIX = "/replication/v1"
#: the largest batch body taken (bytes); a snapshot is streamed and has no limit
MAX_BATCH_BYTES = 64 * 1024 * 1024

M = TypeVar("M")

TenantPath = Annotated[str, Path(pattern=r"^\d{6}$", description="自治体コード / tenant code")]


class Trusting(Protocol):
    """The part of the node the signature check needs."""

    trust: TrustStore


async def replication_node(request: Request) -> Any:
    """The site's replication node (``app.state.replication``); each room's dependency
    types what it takes from it. (Async: FastAPI runs a plain ``def`` dependency in a
    worker thread, a hop per batch for an attribute read.)"""
    return request.app.state.replication


async def signed_site(
    request: Request, node: Annotated[Trusting, Depends(replication_node)]
) -> str:
    """The sending site, verified: a bounded body, then the signature."""
    streaming = request.url.path.endswith("/snapshot")
    body: bytes | None = None
    if not streaming:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BATCH_BYTES):
            raise InvalidInput(f"本文が大きすぎます / body over {MAX_BATCH_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BATCH_BYTES:
            raise InvalidInput(f"本文が大きすぎます / body over {MAX_BATCH_BYTES} bytes")
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    target = raw_path.decode("latin-1")
    if request.scope.get("query_string"):
        target += "?" + request.scope["query_string"].decode("latin-1")
    return node.trust.verify(request.method, target, request.headers, body)


#: the site that signed the request
SignedSite = Annotated[str, Depends(signed_site)]


def parsed(model: Callable[[bytes], M], body: bytes) -> M:
    """The body as the message ``model`` (its ``model_validate_json``), or a 400 saying why.
    Parsed here rather than by FastAPI: the signature covers the raw body, read first."""
    try:
        return model(body)
    except ValidationError as error:
        raise InvalidInput(
            f"形式が正しくありません / malformed: {error.errors()[0]['msg']}"
        ) from None
