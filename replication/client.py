"""Signed requests to another site's replication endpoints (httpx, async)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from replication.ports import Peers
from replication.signing import SIGNATURE_HEADER, SiteKey
from replication.transport import BatchConnections
from replication.wire import (
    Ack,
    DigestOut,
    NodeStatus,
    PauseOut,
    QuarantineOut,
    ReplicaStatus,
    SealOut,
)

PREFIX = "/replication/v1"
M = TypeVar("M", bound=BaseModel)


class PeerError(Exception):
    """A peer answered with an error, or has no known address."""

    def __init__(self, site: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{site}: {message}")
        self.site = site
        self.status = status


class PeerClient:
    def __init__(
        self,
        key: SiteKey,
        peers: Peers,
        http: httpx.AsyncClient,
        batches: BatchConnections | None = None,
    ) -> None:
        self.key = key
        self.peers = peers
        #: entry batches to http:// peers over kept-alive connections (replication.transport)
        self.batches = batches
        self.http = http

    def url(self, site: str, path: str, params: dict[str, Any] | None = None) -> httpx.URL:
        base = self.peers.url(site)
        if base is None:
            raise PeerError(site, "アドレス不明 / no known address for this site")
        return httpx.URL(base.rstrip("/") + PREFIX + path, params=params)

    async def request(
        self,
        site: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        params: dict[str, Any] | None = None,
        time_limit: float | None = None,
    ) -> httpx.Response:
        url = self.url(site, path, params)
        headers = self.key.headers(method, url.raw_path.decode("ascii"), body)
        if body:
            headers["content-type"] = "application/json"
        response = await self.http.request(
            method,
            url,
            content=body,
            headers=headers,
            timeout=time_limit if time_limit is not None else httpx.USE_CLIENT_DEFAULT,
        )
        if response.status_code >= 400:
            raise PeerError(site, _problem(response), response.status_code)
        return response

    async def _model(
        self,
        model: type[M],
        site: str,
        method: str,
        path: str,
        payload: Any = None,
        **kwargs: Any,
    ) -> M:
        body = b"" if payload is None else json.dumps(payload).encode()
        response = await self.request(site, method, path, body=body, **kwargs)
        return model.model_validate_json(response.content)

    async def send_batch(self, site: str, tenant: str, body: bytes, time_limit: float) -> Ack:
        if self.batches is not None:
            url = self.url(site, f"/{tenant}/entries")
            if url.scheme == "http" and url.host:
                target = url.raw_path.decode("ascii")
                headers = self.key.headers("POST", target, body)
                headers["content-type"] = "application/json"
                status, content = await self.batches.post(
                    url.host, url.port or 80, target, headers, body, time_limit
                )
                if status >= 400:
                    raise PeerError(site, _problem_text(status, content), status)
                return Ack.model_validate_json(content)
        response = await self.request(
            site, "POST", f"/{tenant}/entries", body=body, time_limit=time_limit
        )
        return Ack.model_validate_json(response.content)

    async def status(self, site: str, tenant: str) -> ReplicaStatus:
        return await self._model(ReplicaStatus, site, "GET", f"/{tenant}/status")

    async def node_status(self, site: str) -> NodeStatus:
        return await self._model(NodeStatus, site, "GET", "/status")

    async def seal(self, site: str, tenant: str, epoch: int) -> SealOut:
        return await self._model(SealOut, site, "POST", f"/{tenant}/seal", {"epoch": epoch})

    async def promote(self, site: str, tenant: str, epoch: int) -> ReplicaStatus:
        return await self._model(
            ReplicaStatus, site, "POST", f"/{tenant}/promote", {"epoch": epoch}
        )

    async def pause(self, site: str, tenant: str, ttl: float = 10.0, wait: float = 5.0) -> PauseOut:
        payload = {"ttl_seconds": ttl, "wait_seconds": wait}
        return await self._model(
            PauseOut, site, "POST", f"/{tenant}/pause", payload, time_limit=wait + 5.0
        )

    async def resume(self, site: str, tenant: str) -> ReplicaStatus:
        return await self._model(ReplicaStatus, site, "DELETE", f"/{tenant}/pause")

    async def hold(
        self, site: str, tenant: str, seq: int | None, ttl: float = 60.0
    ) -> ReplicaStatus:
        payload = {"seq": seq, "ttl_seconds": ttl}
        return await self._model(ReplicaStatus, site, "POST", f"/{tenant}/hold", payload)

    async def release(self, site: str, tenant: str) -> ReplicaStatus:
        return await self._model(ReplicaStatus, site, "DELETE", f"/{tenant}/hold")

    async def digest(
        self, site: str, tenant: str, seq: int | None = None, wait: float = 30.0
    ) -> DigestOut:
        params: dict[str, Any] = {"wait": wait}
        if seq is not None:
            params["seq"] = seq
        return await self._model(
            DigestOut, site, "GET", f"/{tenant}/digest", params=params, time_limit=wait + 600
        )

    async def quarantine(
        self, site: str, tenant: str, include_resolved: bool = False
    ) -> list[QuarantineOut]:
        params = {"resolved": "true" if include_resolved else "false"}
        response = await self.request(site, "GET", f"/{tenant}/quarantine", params=params)
        return [QuarantineOut.model_validate(item) for item in response.json()]

    async def send_snapshot(
        self,
        site: str,
        tenant: str,
        body: Callable[[str], AsyncIterator[bytes]],
        time_limit: float = 3600.0,
    ) -> Ack:
        """POST a streamed snapshot; ``body(header_signature)`` yields its bytes and
        ends with the trailer signed over that signature."""
        url = self.url(site, f"/{tenant}/snapshot")
        headers = self.key.headers("POST", url.raw_path.decode("ascii"), None)
        headers["content-type"] = "application/x-ndjson"
        response = await self.http.post(
            url,
            content=body(headers[SIGNATURE_HEADER]),
            headers=headers,
            timeout=httpx.Timeout(time_limit, connect=10.0),
        )
        if response.status_code >= 400:
            raise PeerError(site, _problem(response), response.status_code)
        return Ack.model_validate_json(response.content)


def _problem(response: httpx.Response) -> str:
    return _problem_text(response.status_code, response.content)


def _problem_text(status: int, content: bytes) -> str:
    try:
        data = json.loads(content)
    except ValueError:
        return f"HTTP {status}"
    if isinstance(data, dict):
        return f"HTTP {status}: {data.get('detail') or data.get('title')}"
    return f"HTTP {status}"
