"""Signed requests to another site's replication endpoints (httpx, async)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from replication.ports import Peers
from replication.protocol.many import Answers, gathered
from replication.protocol.signing import SIGNATURE_HEADER, SiteKey
from replication.protocol.transport import BatchConnections
from replication.protocol.wire import (
    Ack,
    DigestOut,
    NodeStatus,
    PauseOut,
    QuarantineOut,
    ReplicaStatus,
    SealOut,
)

PREFIX = "/replication/v1"


@functools.lru_cache(maxsize=4096)
def _url(base: str, path: str) -> httpx.URL:
    """A peer's URL without a query, parsed once: every batch of every stream asks for
    one (parsing it cost a primary ~2 % of its CPU in bench/ingest.py); httpx.URL is
    immutable. Keyed on the address too, so a peer that moves gets a new one."""
    return httpx.URL(base.rstrip("/") + PREFIX + path)


#: how long connecting to the sites before a move may take (a TLS handshake on a loaded
#: machine); a site not connected by then is connected by the move's own request
CONNECT_SECONDS = 5.0
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
        #: entry batches to http:// peers over kept-alive connections (replication.protocol.transport)
        self.batches = batches
        self.http = http

    async def connect(self, sites: Collection[str], within: float = CONNECT_SECONDS) -> None:
        """Open (or keep) a connection to each of ``sites`` in the pool of ``http``: the
        site's /healthz, answered on its event loop. A site that does not answer within
        ``within`` is left to the request that follows, which judges it."""

        async def healthz(site: str) -> None:
            base = self.peers.url(site)
            if base is not None:
                with contextlib.suppress(httpx.HTTPError):
                    await self.http.get(base.rstrip("/") + "/healthz")

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await asyncio.gather(*(healthz(site) for site in sorted(sites)))

    def url(self, site: str, path: str, params: dict[str, Any] | None = None) -> httpx.URL:
        base = self.peers.url(site)
        if base is None:
            raise PeerError(site, "アドレス不明 / no known address for this site")
        url = _url(base, path)
        return url if params is None else url.copy_merge_params(params)

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
            secure = url.scheme == "https"
            if url.host and (url.scheme == "http" or (secure and self.batches.tls is not None)):
                target = url.raw_path.decode("ascii")
                headers = self.key.headers("POST", target, body)
                headers["content-type"] = "application/json"
                status, content = await self.batches.post(
                    url.host,
                    url.port or (443 if secure else 80),
                    target,
                    headers,
                    body,
                    time_limit,
                    secure=secure,
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

    # The batched forms (replication.protocol.many): one request for many tenants of ``site``;
    # each tenant's answer is its result or its own PeerError. A site without them
    # (an older node: 404) is asked tenant by tenant instead.

    async def pause_many(
        self, site: str, tenants: Sequence[str], ttl: float = 10.0, wait: float = 5.0
    ) -> Answers[PauseOut]:
        payload = {"tenants": list(tenants), "ttl_seconds": ttl, "wait_seconds": wait}
        return await self._many(
            PauseOut, site, "pause", payload, lambda t: self.pause(site, t, ttl, wait), wait + 5.0
        )

    async def resume_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]:
        payload = {"tenants": list(tenants)}
        return await self._many(
            ReplicaStatus, site, "resume", payload, lambda t: self.resume(site, t)
        )

    async def status_many(self, site: str, tenants: Sequence[str]) -> Answers[ReplicaStatus]:
        payload = {"tenants": list(tenants)}
        return await self._many(
            ReplicaStatus, site, "status", payload, lambda t: self.status(site, t)
        )

    async def seal_many(self, site: str, epochs: Mapping[str, int]) -> Answers[SealOut]:
        payload = {"items": [{"tenant": t, "epoch": e} for t, e in epochs.items()]}
        return await self._many(
            SealOut, site, "seal", payload, lambda t: self.seal(site, t, epochs[t])
        )

    async def promote_many(self, site: str, epochs: Mapping[str, int]) -> Answers[ReplicaStatus]:
        payload = {"items": [{"tenant": t, "epoch": e} for t, e in epochs.items()]}
        return await self._many(
            ReplicaStatus, site, "promote", payload, lambda t: self.promote(site, t, epochs[t])
        )

    async def _many(
        self,
        model: type[M],
        site: str,
        step: str,
        payload: dict[str, Any],
        one: Callable[[str], Awaitable[M]],
        time_limit: float | None = None,
    ) -> Answers[M]:
        tenants = list(payload["tenants"] if "tenants" in payload else _item_tenants(payload))
        body = json.dumps(payload).encode()
        try:
            response = await self.request(
                site, "POST", f"/batch/{step}", body=body, time_limit=time_limit
            )
        except PeerError as error:
            if error.status not in (404, 405):
                raise
            return await _one_by_one(tenants, one)
        answers: Answers[M] = {}
        for item in response.json()["results"]:
            tenant = str(item["tenant"])
            if item.get("status", 200) >= 400 or item.get("result") is None:
                detail = f"HTTP {item.get('status')}: {item.get('detail')}"
                answers[tenant] = PeerError(site, detail, item.get("status"))
            else:
                answers[tenant] = model.model_validate(item["result"])
        for tenant in tenants:  # a tenant the site did not answer for is an error too
            answers.setdefault(tenant, PeerError(site, f"no answer for tenant {tenant}"))
        return answers

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
        self,
        site: str,
        tenant: str,
        include_resolved: bool = False,
        *,
        offset: int = 0,
        limit: int = 500,
    ) -> list[QuarantineOut]:
        params: dict[str, Any] = {"resolved": "true" if include_resolved else "false"}
        if offset or limit != 500:
            params |= {"offset": offset, "limit": limit}
        response = await self.request(site, "GET", f"/{tenant}/quarantine", params=params)
        return [QuarantineOut.model_validate(item) for item in response.json()]

    async def resolve_quarantined(
        self, site: str, tenant: str, entry_id: int, by: str, note: str
    ) -> QuarantineOut:
        """Mark an entry of ``site``'s quarantine reconciled (the same operation as
        `yui replication quarantine resolve` run at that site)."""
        return await self._model(
            QuarantineOut,
            site,
            "POST",
            f"/{tenant}/quarantine/{entry_id}/resolve",
            {"by": by, "note": note},
        )

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


def _item_tenants(payload: dict[str, Any]) -> list[str]:
    return [str(item["tenant"]) for item in payload["items"]]


#: requests in flight at once when a site without the batched endpoints is asked
#: tenant by tenant
ONE_BY_ONE_CONCURRENCY = 32


async def _one_by_one(tenants: list[str], one: Callable[[str], Awaitable[M]]) -> Answers[M]:
    gate = asyncio.Semaphore(ONE_BY_ONE_CONCURRENCY)

    async def answer(tenant: str) -> M:
        async with gate:
            return await one(tenant)

    return await gathered((answer(t) for t in tenants), tenants)


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
