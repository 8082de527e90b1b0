"""Coordination through etcd: the implementation (the only module importing aetcd).

aetcd 1.0 talks to one ``host:port``; here a :class:`_Link` holds one client at a
time and moves to the next endpoint when a call fails or times out, so any
member of the cluster can serve. Each long-lived part (a site registration, a
campaign, a view) has its own link, so a reconnect of one never disturbs
another. Every call carries gRPC metadata ``hasleader=true``: a member cut off
from its leader refuses at once instead of serving stale data or hanging.

See docs/coordination.md for the keys, the compare-and-swap rules, the watch
resume and the election.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aetcd
import aetcd.exceptions as etcd_errors
import aetcd.rpc as etcd_rpc
import aetcd.rtypes as etcd_types
import aetcd.watcher as etcd_watcher
import grpc  # type: ignore[import-untyped]
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
)

from failover.coordination.codec import (
    CodecError,
    decode_placement,
    decode_site,
    encode_placement,
    encode_site,
)
from failover.coordination.held_view import HeldView
from failover.coordination.interface import (
    ClusterEvent,
    ClusterView,
    Coordination,
    CoordinationUnavailable,
    Leadership,
    LeadershipLost,
    PlacementConflict,
    SiteRecord,
    SiteRegistration,
    check_name,
)
from failover.coordination.timing import SANDBOX, CoordinationTiming
from failover.placement.policy import Placement
from yui.tasks import cancel_and_wait
from yui.tls import TlsFiles

__all__ = ["EtcdCoordination"]

log = logging.getLogger("failover.coordination")

_T = TypeVar("_T")

# etcd's "require leader" metadata (clientv3.WithRequireLeader).
_REQUIRE_LEADER = (("hasleader", "true"),)

# Errors that retrying on another member cannot fix.
_PERMANENT: tuple[type[BaseException], ...] = (
    etcd_errors.InvalidArgumentError,
    etcd_errors.UnauthenticatedError,
    etcd_errors.RevisionCompactedError,
    etcd_errors.DuplicateLeaseError,
)


#: placements written by one transaction: etcd refuses more than 128 operations in a
#: branch (``--max-txn-ops``); the success branch holds one put each and one read
_TXN_PLACEMENTS = 100


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, _PERMANENT):
        return False
    return isinstance(error, etcd_errors.ClientError | TimeoutError | OSError | _StreamEnded)


class _StreamEnded(Exception):
    """A watch stream ended without an error (closed underneath us)."""


def _parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``host:port`` or ``http://host:port`` -> (host, port)."""
    text = endpoint.split("://", 1)[-1].rstrip("/")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"etcd endpoint must be host:port, not {endpoint!r}")
    return host, int(port)


async def _within(call: Awaitable[_T], seconds: float) -> _T:
    """``call`` with a deadline that holds even when the call does not cancel cleanly.

    ``asyncio.wait_for`` waits for the cancelled call to finish. aetcd's ``watch_once``
    awaits its watcher's lock in a ``finally``, and a watch stream stuck on a dead member
    holds that lock for ever: a candidate hung there, and no controller was elected while
    the old controller's site was down (the soak's unrecovered tenants, docs/failover.md).
    Here the call is cancelled and left to finish on its own; the caller drops the client.
    """
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_consume)
        raise
    if task in done:
        if task.cancelled():  # not by us: aetcd cancels a call whose client was closed
            raise _StreamEnded("the etcd call was cancelled underneath (its client closed)")
        return task.result()
    task.cancel()
    task.add_done_callback(_consume)
    raise TimeoutError(f"no answer from etcd in {seconds:g} s")


def _cancelled_from_outside() -> bool:
    """Whether this task itself is being cancelled (stop, resign), as opposed to a
    CancelledError that escaped from inside aetcd: the first must end a loop, the
    second is one more transient failure (it ended the campaign loop silently before)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned call's outcome (no "exception never retrieved" noise)."""
    if not task.cancelled():
        task.exception()


async def _close_quietly(client: Any) -> None:
    channel = getattr(client, "channel", None)
    try:
        await _within(client.close(), 1.0)
    except Exception:  # closing a broken channel: nothing to report
        if channel is not None:
            with contextlib.suppress(Exception):
                await _within(channel.close(), 1.0)


def _first_kv(range_result: Any) -> Any:
    """The Get of a transaction's range response (a list of (value, Get)), or None."""
    if range_result:
        return range_result[0][1]
    return None


def _renewal(lease_id: int) -> Callable[[Any], Awaitable[Any]]:
    """One keep-alive of ``lease_id`` (its reply carries the new TTL, 0 once expired)."""

    async def renew(client: Any) -> Any:
        return await client.refresh_lease(lease_id)

    return renew


class _TlsClient(aetcd.Client):  # type: ignore[misc]
    """An aetcd client over TLS with a client certificate: aetcd 1.0 opens only plaintext
    channels, so this is its `connect` with a secure channel (the rest unchanged)."""

    _is_connecting: bool

    def __init__(self, *, credentials: grpc.ChannelCredentials, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._credentials = credentials

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        if self._is_connecting:
            await asyncio.wait_for(self._connected.wait(), self._connect_wait_timeout)
            return
        try:
            self._is_connecting = True
            target = f"{self._host}:{self._port}"
            options = list(self._options.items())
            self.channel = etcd_rpc.secure_channel(target, self._credentials, options=options)
            self.kvstub = etcd_rpc.KVStub(self.channel)
            self.clusterstub = etcd_rpc.ClusterStub(self.channel)
            self.leasestub = etcd_rpc.LeaseStub(self.channel)
            self.maintenancestub = etcd_rpc.MaintenanceStub(self.channel)
            self._watcher = etcd_watcher.Watcher(
                etcd_rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
            )
            self._connected.set()
        finally:
            self._is_connecting = False


def _tls_credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    """The member verified against the CA, this client's certificate presented."""
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca.read_bytes(),
        private_key=tls.key.read_bytes(),
        certificate_chain=tls.cert.read_bytes(),
    )


class _Link:
    """One aetcd client to one member at a time; the next member after a failure."""

    def __init__(
        self,
        endpoints: Sequence[tuple[str, int]],
        *,
        call_timeout: float,
        tls: TlsFiles | None = None,
    ) -> None:
        self._endpoints = list(endpoints)
        self._index = random.randrange(len(self._endpoints))
        self._call_timeout = call_timeout
        self._credentials = _tls_credentials(tls) if tls is not None else None
        self._client: Any = None
        #: clients left by `leave`, closed a while later (a call may be in flight on one)
        self._retired: set[Any] = set()
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        host, port = self._endpoints[self._index]
        return f"{host}:{port}"

    async def client(self) -> Any:
        if self._client is None:
            host, port = self._endpoints[self._index]
            if self._credentials is not None:
                client = _TlsClient(
                    host=host, port=port, timeout=self._call_timeout, credentials=self._credentials
                )
            else:
                client = aetcd.Client(host=host, port=port, timeout=self._call_timeout)
            try:  # bounded: a member cut off by a partition never answers the handshake
                await _within(client.connect(), self._call_timeout)
            except BaseException:
                self._index = (self._index + 1) % len(self._endpoints)
                await _close_quietly(client)
                raise
            # aetcd has no option for request metadata beyond its auth token;
            # both the unary calls and the watch stream read these attributes.
            client.metadata = _REQUIRE_LEADER
            client._watcher._metadata = _REQUIRE_LEADER
            self._client = client
        return self._client

    async def drop(self, client: Any) -> None:
        """Forget ``client`` after a failure and move on to the next endpoint."""
        if client is None or client is not self._client:
            return
        self._client = None
        self._index = (self._index + 1) % len(self._endpoints)
        await _close_quietly(client)

    def leave(self, endpoint: str) -> None:
        """Another link of this node found ``endpoint`` failing: if this one talks to it
        too, its next call goes to the next member at once, not after failing there."""
        if self.endpoint != endpoint:
            return
        client, self._client = self._client, None
        self._index = (self._index + 1) % len(self._endpoints)
        if client is not None:  # closed once a call in flight on it has had its time
            self._retired.add(client)
            task = asyncio.get_running_loop().create_task(self._retire(client))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, client: Any) -> None:
        await asyncio.sleep(2 * self._call_timeout)
        self._retired.discard(client)
        await _close_quietly(client)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _close_quietly(client)
        for task in list(self._retiring):
            task.cancel()
        for retired in list(self._retired):
            self._retired.discard(retired)
            await _close_quietly(retired)

    async def call(self, op: Callable[[Any], Awaitable[_T]], *, what: str, budget: float) -> _T:
        """Run ``op(client)``, moving through the endpoints until ``budget`` seconds pass:
        a transient error drops the client, so the next attempt asks the next member,
        after a short backoff (20 ms doubling to 250 ms)."""
        deadline = time.monotonic() + budget
        attempts = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            wait=wait_exponential(multiplier=0.02, max=0.25),
            stop=stop_before_delay(budget),
            reraise=True,
        )
        try:
            async for attempt in attempts:
                with attempt:
                    client = None
                    try:
                        client = await self.client()
                        remaining = max(0.0, deadline - time.monotonic())
                        return await _within(op(client), min(self._call_timeout, remaining))
                    except Exception as error:
                        if _is_transient(error):
                            log.debug("etcd %s via %s failed: %r", what, self.endpoint, error)
                            await self.drop(client)
                        raise
        except Exception as error:
            if not _is_transient(error):
                raise
            raise CoordinationUnavailable(
                f"etcd に接続できません（{what}） / etcd unreachable ({what}): {error!r}"
            ) from None
        raise AssertionError("unreachable: the attempts end by a return or an error")


class EtcdCoordination(Coordination):
    """:class:`Coordination` over an etcd v3 cluster (etcd 3.4 or later)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timing: CoordinationTiming = SANDBOX,
        prefix: str = "/yui",
        tls: TlsFiles | None = None,
    ) -> None:
        """``tls``: the members are verified against its CA and its certificate is
        presented (etcd's --client-cert-auth); None: plaintext (local development)."""
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix must start with '/' and not end with it: {prefix!r}")
        self.timing = timing
        self.prefix = prefix
        self._endpoints = [_parse_endpoint(e) for e in endpoints]
        self._tls = tls
        self._link = self._new_link()
        self._handles: set[_EtcdSiteRegistration | _EtcdLeadership | _EtcdClusterView] = set()

    # ------------------------------------------------------------- plumbing

    def _new_link(self) -> _Link:
        return _Link(self._endpoints, call_timeout=self.timing.retry_timeout_seconds, tls=self._tls)

    def _member_failing(self, endpoint: str, seen_by: _Link) -> None:
        """A link saw ``endpoint`` fail: every other link of this node on it moves on. A
        promotion's placement write went through the member that died with the lost site
        and paid for finding that out (0.3-0.8 s) before it asked the next member."""
        for link in (self._link, *(handle._link for handle in self._handles)):
            if link is not seen_by:
                link.leave(endpoint)

    @property
    def budget(self) -> float:
        """Time given to one operation: one call, then one retry on another member."""
        return 2 * self.timing.retry_timeout_seconds

    @property
    def root(self) -> bytes:
        return f"{self.prefix}/".encode()

    def site_key(self, name: str) -> bytes:
        return f"{self.prefix}/sites/{check_name('site', name)}".encode()

    def placement_key(self, tenant: str) -> bytes:
        return f"{self.prefix}/placements/{check_name('tenant', tenant)}".encode()

    @property
    def controller_key(self) -> bytes:
        return f"{self.prefix}/controller".encode()

    # ---------------------------------------------------------------- sites

    async def register_site(self, record: SiteRecord) -> SiteRegistration:
        registration = _EtcdSiteRegistration(self, record)
        try:
            await registration.start()
        except BaseException:
            await registration.close(revoke=False)
            raise
        self._handles.add(registration)
        return registration

    async def list_sites(self) -> dict[str, SiteRecord]:
        prefix = f"{self.prefix}/sites/".encode()
        result = await self._link.call(
            lambda c: c.get_prefix(prefix), what="list sites", budget=self.budget
        )
        sites: dict[str, SiteRecord] = {}
        for kv in result:
            try:
                record = decode_site(kv.value)
            except CodecError as error:
                log.error("unreadable site record at %r: %s", kv.key, error)
                continue
            sites[record.name] = record
        return sites

    # ----------------------------------------------------------- placements

    async def get_placement(self, tenant: str) -> tuple[Placement | None, int]:
        key = self.placement_key(tenant)
        kv = await self._link.call(lambda c: c.get(key), what="get placement", budget=self.budget)
        if kv is None:
            return None, 0
        return decode_placement(kv.value, revision=kv.mod_revision), int(kv.mod_revision)

    async def list_placements(self) -> tuple[dict[str, Placement], int]:
        prefix = f"{self.prefix}/placements/".encode()
        result = await self._link.call(
            lambda c: c.get_prefix(prefix), what="list placements", budget=self.budget
        )
        placements: dict[str, Placement] = {}
        for kv in result:
            try:
                placement = decode_placement(kv.value, revision=kv.mod_revision)
            except CodecError as error:
                log.error("unreadable placement at %r: %s", kv.key, error)
                continue
            placements[placement.tenant] = placement
        return placements, int(result.header.revision)

    async def put_placement_if(
        self,
        tenant: str,
        placement: Placement,
        expected_revision: int,
        *,
        leader: Leadership | None = None,
        note: bytes | None = None,
    ) -> int:
        key = self.placement_key(tenant)
        if placement.tenant != tenant:
            raise ValueError(f"placement is for tenant {placement.tenant!r}, not {tenant!r}")
        if expected_revision < 0:
            raise ValueError("expected_revision must be 0 (absent) or a revision")
        term = 0
        if leader is not None:
            term = leader.term
            if term == 0:
                raise LeadershipLost(leader.node_id, term)
        value = encode_placement(placement)
        controller = self.controller_key
        attempts = 0

        async def transaction(client: Any) -> Any:
            nonlocal attempts
            attempts += 1
            t = client.transactions
            compare = [t.mod(key) == expected_revision]
            if leader is not None:
                compare.append(t.create(controller) == term)
            noted = [] if note is None else [t.put(self._note_key(tenant, expected_revision), note)]
            return await client.transaction(
                compare=compare,
                success=[t.put(key, value), t.get(key), *noted],
                failure=[t.get(key), t.get(controller)],
            )

        succeeded, responses = await self._link.call(
            transaction, what=f"write placement of {tenant}", budget=self.budget
        )
        if succeeded:
            return int(_first_kv(responses[1]).mod_revision)
        current = _first_kv(responses[0])
        holder = _first_kv(responses[1])
        if leader is not None and (holder is None or holder.create_revision != term):
            raise LeadershipLost(leader.node_id, term)
        current_revision = int(current.mod_revision) if current is not None else 0
        if (
            attempts > 1
            and current is not None
            and current.value == value
            and current_revision > expected_revision
        ):
            # An earlier attempt timed out after etcd applied it: that write is ours.
            return current_revision
        raise PlacementConflict(tenant, expected_revision, current_revision)

    def _note_key(self, tenant: str, revision: int) -> bytes:
        return f"{self.prefix}/operator-log/{tenant}/{revision:020d}".encode()

    async def operator_log(self, tenant: str) -> list[tuple[int, bytes]]:
        prefix = f"{self.prefix}/operator-log/{tenant}/".encode()
        result = await self._link.call(
            lambda c: c.get_prefix(prefix), what="read the operator log", budget=self.budget
        )
        return sorted((int(kv.mod_revision), bytes(kv.value)) for kv in result)

    async def put_placements_if(
        self, changes: Sequence[tuple[Placement, int]], *, leader: Leadership | None = None
    ) -> dict[str, int | PlacementConflict]:
        """One transaction per chunk of placements (an evacuation writes hundreds; one
        round trip each would dominate it). Every placement keeps its own compare; with
        ``leader`` every transaction also compares the controller key's term."""
        tenants = [placement.tenant for placement, _ in changes]
        if len(set(tenants)) != len(tenants):
            raise ValueError("each tenant may appear once in a batch of placements")
        if leader is not None and leader.term == 0:
            raise LeadershipLost(leader.node_id, 0)
        results: dict[str, int | PlacementConflict] = {}
        for start in range(0, len(changes), _TXN_PLACEMENTS):
            chunk = changes[start : start + _TXN_PLACEMENTS]
            results.update(await self._put_chunk(chunk, leader))
        return results

    async def _put_chunk(
        self, changes: Sequence[tuple[Placement, int]], leader: Leadership | None
    ) -> dict[str, int | PlacementConflict]:
        """A failed transaction tells, by its reads, which compares failed: those lose;
        the rest go again together (a few rounds), then one by one."""
        pending = {placement.tenant: (placement, revision) for placement, revision in changes}
        results: dict[str, int | PlacementConflict] = {}
        for _round in range(3):
            if not pending:
                return results
            written, current, retried = await self._placements_txn(list(pending.values()), leader)
            if written is not None:
                return results | dict.fromkeys(pending, written)
            for tenant, (placement, expected) in list(pending.items()):
                revision, value = current[tenant]
                if revision == expected:
                    continue  # its compare held: it goes again with the others
                del pending[tenant]
                if retried and value == encode_placement(placement) and revision > expected:
                    results[tenant] = revision  # an attempt that timed out was applied
                else:
                    results[tenant] = PlacementConflict(tenant, expected, revision)
        for tenant, (placement, expected) in pending.items():
            try:
                results[tenant] = await self.put_placement_if(
                    tenant, placement, expected, leader=leader
                )
            except PlacementConflict as conflict:
                results[tenant] = conflict
        return results

    async def _placements_txn(
        self, changes: Sequence[tuple[Placement, int]], leader: Leadership | None
    ) -> tuple[int | None, dict[str, tuple[int, bytes | None]], bool]:
        """(the revision written, or None when a compare failed; each key's revision and
        value when one failed; whether the call was retried). Raises
        :class:`LeadershipLost` when ``leader`` no longer holds the controller key."""
        keys = [self.placement_key(placement.tenant) for placement, _ in changes]
        values = [encode_placement(placement) for placement, _ in changes]
        controller = self.controller_key
        term = 0 if leader is None else leader.term
        attempts = 0

        async def transaction(client: Any) -> Any:
            nonlocal attempts
            attempts += 1
            t = client.transactions
            compare = [t.mod(k) == rev for k, (_, rev) in zip(keys, changes, strict=True)]
            if leader is not None:
                compare.append(t.create(controller) == term)
            return await client.transaction(
                compare=compare,
                # one revision for the whole transaction: read it back from the last key
                success=[t.put(k, v) for k, v in zip(keys, values, strict=True)]
                + [t.get(keys[-1])],
                failure=[t.get(k) for k in keys] + [t.get(controller)],
            )

        succeeded, responses = await self._link.call(
            transaction, what=f"write {len(keys)} placements", budget=self.budget
        )
        if succeeded:
            return int(_first_kv(responses[-1]).mod_revision), {}, attempts > 1
        holder = _first_kv(responses[-1])
        if leader is not None and (holder is None or holder.create_revision != term):
            raise LeadershipLost(leader.node_id, term)
        current: dict[str, tuple[int, bytes | None]] = {}
        for (placement, _), response in zip(changes, responses[:-1], strict=True):
            kv = _first_kv(response)
            current[placement.tenant] = (
                (int(kv.mod_revision), kv.value) if kv is not None else (0, None)
            )
        return None, current, attempts > 1

    # ----------------------------------------------------------- controller

    async def current_controller(self) -> tuple[str, int] | None:
        key = self.controller_key
        kv = await self._link.call(lambda c: c.get(key), what="get controller", budget=self.budget)
        if kv is None:
            return None
        return kv.value.decode(), int(kv.create_revision)

    async def end_controller_term(self, term: int) -> bool:
        key = self.controller_key

        async def transaction(client: Any) -> Any:
            t = client.transactions
            return await client.transaction(
                compare=[t.create(key) == term], success=[t.delete(key)], failure=[]
            )

        succeeded, _ = await self._link.call(
            transaction, what="end controller term", budget=self.budget
        )
        return bool(succeeded)

    def campaign(self, node_id: str) -> Leadership:
        leadership = _EtcdLeadership(self, node_id)
        self._handles.add(leadership)
        return leadership

    # ----------------------------------------------------------------- view

    def cluster_view(self) -> ClusterView:
        view = _EtcdClusterView(self)
        self._handles.add(view)
        return view

    # ------------------------------------------------------------ lifecycle

    def _forget(self, handle: _EtcdSiteRegistration | _EtcdLeadership | _EtcdClusterView) -> None:
        self._handles.discard(handle)

    async def close(self) -> None:
        for handle in list(self._handles):
            with contextlib.suppress(Exception):
                if isinstance(handle, _EtcdSiteRegistration):
                    await handle.close()
                elif isinstance(handle, _EtcdLeadership):
                    await handle.resign()
                else:
                    await handle.close()
        self._handles.clear()
        await self._link.close()


# ------------------------------------------------------------------------ site leases


class _EtcdSiteRegistration(SiteRegistration):
    def __init__(self, owner: EtcdCoordination, record: SiteRecord) -> None:
        self._owner = owner
        self._record = record
        self._key = owner.site_key(record.name)
        self._timing = owner.timing
        self._link = owner._new_link()
        self._lease_id = 0
        self._valid_until = 0.0
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def record(self) -> SiteRecord:
        return self._record

    @property
    def lease_id(self) -> int:
        return self._lease_id

    @property
    def registered(self) -> bool:
        return not self._closed and self._lease_id != 0 and time.monotonic() < self._valid_until

    @property
    def endpoint(self) -> str:
        return self._link.endpoint

    async def start(self) -> None:
        await self._grant_and_put(budget=self._owner.budget)
        self._task = asyncio.get_running_loop().create_task(
            self._keep_alive(), name=f"yui-site-lease-{self._record.name}"
        )

    async def _grant_and_put(self, *, budget: float) -> None:
        ttl = self._timing.lease_ttl_seconds
        sent = time.monotonic()
        lease = await self._link.call(lambda c: c.lease(ttl), what="grant lease", budget=budget)
        value = encode_site(self._record)
        await self._link.call(
            lambda c: c.put(self._key, value, lease=lease.id),
            what="put site key",
            budget=max(0.1, sent + lease.ttl - time.monotonic()),
        )
        self._lease_id = int(lease.id)
        self._valid_until = sent + int(lease.ttl) - self._timing.fence_margin_seconds
        log.info("site %s registered (lease %x)", self._record.name, self._lease_id)

    async def _keep_alive(self) -> None:
        timing = self._timing
        while not self._closed:
            await asyncio.sleep(timing.keepalive_interval_seconds)
            if self._lease_id == 0 or time.monotonic() >= self._valid_until:
                if self._lease_id:
                    log.warning(
                        "site %s: lease %x not renewed in time; registering again",
                        self._record.name,
                        self._lease_id,
                    )
                    self._lease_id = 0
                with contextlib.suppress(CoordinationUnavailable):
                    await self._grant_and_put(budget=self._owner.budget)
                continue
            lease_id = self._lease_id
            sent = time.monotonic()
            try:
                reply = await self._link.call(
                    _renewal(lease_id),
                    what="renew lease",
                    budget=max(timing.retry_timeout_seconds, self._valid_until - sent),
                )
            except CoordinationUnavailable as error:
                log.warning("site %s: %s", self._record.name, error)
                continue
            ttl = int(reply.TTL) if reply is not None else 0
            if ttl <= 0:
                log.warning("site %s: lease %x expired in etcd", self._record.name, lease_id)
                self._lease_id = 0
                with contextlib.suppress(CoordinationUnavailable):
                    await self._grant_and_put(budget=self._owner.budget)
            else:
                self._valid_until = sent + ttl - timing.fence_margin_seconds

    async def update(self, record: SiteRecord) -> None:
        if record.name != self._record.name:
            raise ValueError("a registration keeps its site name")
        self._record = record
        if self._lease_id:
            lease_id, value = self._lease_id, encode_site(record)
            await self._link.call(
                lambda c: c.put(self._key, value, lease=lease_id),
                what="update site key",
                budget=self._owner.budget,
            )

    async def close(self, *, revoke: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        await cancel_and_wait(self._task)
        if revoke and self._lease_id:
            lease_id = self._lease_id
            with contextlib.suppress(CoordinationUnavailable):
                await self._link.call(
                    lambda c: c.revoke_lease(lease_id),
                    what="revoke lease",
                    budget=self._timing.retry_timeout_seconds,
                )
        self._lease_id = 0
        await self._link.close()
        self._owner._forget(self)


# ------------------------------------------------------------------------ election


class _EtcdLeadership(Leadership):
    def __init__(self, owner: EtcdCoordination, node_id: str) -> None:
        check_name("node", node_id)
        self._owner = owner
        self._node_id = node_id
        self._key = owner.controller_key
        self._timing = owner.timing
        self._link = owner._new_link()
        self._term = 0
        self._lease_id = 0
        self._valid_until = 0.0
        self._elected = asyncio.Event()
        self._not_leader = asyncio.Event()
        self._not_leader.set()
        self._callbacks: list[Callable[[int], object]] = []
        self._resigned = False
        self._revocations: set[asyncio.Task[None]] = set()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"yui-campaign-{node_id}"
        )

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def is_leader(self) -> bool:
        # The local deadline fences even when the loop is late to notice.
        return self._term != 0 and time.monotonic() < self._valid_until

    @property
    def term(self) -> int:
        return self._term if self.is_leader else 0

    @property
    def endpoint(self) -> str:
        return self._link.endpoint

    async def wait_elected(self) -> None:
        while not self.is_leader:
            await self._elected.wait()
            if not self.is_leader:
                await asyncio.sleep(0.01)

    async def wait_lost(self) -> None:
        while self.is_leader:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._not_leader.wait(), max(0.01, self._valid_until - time.monotonic())
                )

    def on_lost(self, callback: Callable[[int], object]) -> None:
        self._callbacks.append(callback)

    async def _run(self) -> None:
        # Hand-written, not a retry helper: it runs for the candidate's life and each error
        # kind acts differently (step down, campaign again); the calls inside retry via _Link.
        delay = 0.05
        while not self._resigned:
            try:
                held = await self._try_acquire()
                if held is None:
                    delay = 0.05
                    await self._hold()
                else:
                    await self._wait_vacancy(held)
            except asyncio.CancelledError:
                if _cancelled_from_outside():
                    raise
                log.info("campaign %s: an etcd call was cancelled underneath", self._node_id)
                await asyncio.sleep(delay)
                continue
            except Exception as error:
                if _is_transient(error) or isinstance(error, CoordinationUnavailable):
                    log.info("campaign %s: %s", self._node_id, error)
                else:
                    log.exception("campaign %s failed", self._node_id)
                if self._term:
                    self._step_down("error")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._timing.keepalive_interval_seconds)

    async def _try_acquire(self) -> int | None:
        """Create the leader key under a new lease: None when won, else the key's revision."""
        budget = self._owner.budget
        ttl = self._timing.lease_ttl_seconds
        sent = time.monotonic()
        lease = await self._link.call(lambda c: c.lease(ttl), what="grant lease", budget=budget)
        key, node = self._key, self._node_id.encode()

        async def transaction(client: Any) -> Any:
            t = client.transactions
            return await client.transaction(
                compare=[t.create(key) == 0],
                success=[t.put(key, node, lease=lease.id), t.get(key)],
                failure=[t.get(key)],
            )

        succeeded, responses = await self._link.call(
            transaction, what="create leader key", budget=budget
        )
        kv = _first_kv(responses[1] if succeeded else responses[0])
        # The lease tells whether the key is ours, even when an earlier attempt
        # of this transaction timed out after etcd applied it.
        if kv is not None and kv.lease == lease.id:
            self._lease_id = int(lease.id)
            self._valid_until = sent + int(lease.ttl) - self._timing.fence_margin_seconds
            self._term = int(kv.create_revision)
            self._not_leader.clear()
            self._elected.set()
            log.info("%s is the failover controller (term %d)", self._node_id, self._term)
            return None
        await self._revoke(int(lease.id))
        return int(kv.mod_revision) if kv is not None else 0

    async def _wait_vacancy(self, revision: int) -> None:
        """Wait (a keep-alive interval and a retry, 2 s in the sandbox) until the leader
        key at ``revision`` is deleted. Short, so that a watch held by a member that died
        with the old controller's site is given up soon (the next round goes through the
        next member): waiting a whole TTL there made a new controller take ~5.5 s."""
        if revision == 0:
            return
        ttl = self._timing.keepalive_interval_seconds + self._timing.retry_timeout_seconds
        client = None
        try:
            client = await self._link.client()
            # aetcd's own timeout starts once the watch is created; creating it through
            # a member behind a partition can hang for the gRPC connect timeout (~20 s,
            # seen as 30 s without a controller in the partition drill): bound it all
            await _within(
                client.watch_once(
                    self._key,
                    timeout=ttl,
                    start_revision=revision + 1,
                    kind=etcd_types.EventKind.DELETE,
                ),
                ttl + 0.5,
            )
        except etcd_errors.WatchTimeoutError:
            return
        except Exception as error:
            # Whatever went wrong with this watch (aetcd fails with AttributeError when
            # its client was closed under it), the next round starts on a fresh client:
            # a candidate must never stop campaigning.
            if not _is_transient(error):
                log.info("campaign %s: the vacancy watch failed: %r", self._node_id, error)
            await self._link.drop(client)
            await asyncio.sleep(0.05)

    async def _hold(self) -> None:
        timing = self._timing
        while not self._resigned:
            remaining = self._valid_until - time.monotonic()
            if remaining <= 0:
                self._step_down("lease not renewed in time")
                return
            await asyncio.sleep(min(timing.keepalive_interval_seconds, remaining))
            lease_id = self._lease_id
            sent = time.monotonic()
            if sent >= self._valid_until:
                continue
            try:
                reply = await self._link.call(
                    _renewal(lease_id),
                    what="renew leader lease",
                    budget=self._valid_until - sent,
                )
                kv = await self._link.call(
                    lambda c: c.get(self._key),
                    what="read leader key",
                    budget=max(0.05, self._valid_until - time.monotonic()),
                )
            except CoordinationUnavailable as error:
                log.warning("controller %s: %s", self._node_id, error)
                continue
            ttl = int(reply.TTL) if reply is not None else 0
            if ttl <= 0:
                self._step_down("lease expired")
                return
            if kv is None or kv.lease != lease_id:
                self._step_down("leader key gone")
                return
            self._valid_until = sent + ttl - timing.fence_margin_seconds

    def _step_down(self, reason: str) -> None:
        term, lease_id = self._term, self._lease_id
        if not term:
            return
        self._term = 0
        self._lease_id = 0
        self._valid_until = 0.0
        self._elected.clear()
        self._not_leader.set()
        log.warning("%s lost the controller role (term %d): %s", self._node_id, term, reason)
        for callback in list(self._callbacks):
            try:
                callback(term)
            except Exception:
                log.exception("leadership-lost callback failed")
        if lease_id:
            # Free the key at once if etcd still holds it (we stopped trusting it).
            task = asyncio.get_running_loop().create_task(self._revoke(lease_id))
            self._revocations.add(task)
            task.add_done_callback(self._revocations.discard)

    async def _revoke(self, lease_id: int) -> None:
        with contextlib.suppress(CoordinationUnavailable, etcd_errors.ClientError):
            await self._link.call(
                lambda c: c.revoke_lease(lease_id),
                what="revoke lease",
                budget=self._timing.retry_timeout_seconds,
            )

    async def resign(self) -> None:
        if self._resigned:
            return
        self._resigned = True
        await cancel_and_wait(self._task)
        if self._revocations:
            await asyncio.wait(set(self._revocations))
        term, lease_id = self._term, self._lease_id
        if term:
            self._term = 0  # no step-down revoke task: revoke here, then report
            self._lease_id = 0
            self._valid_until = 0.0
            self._elected.clear()
            self._not_leader.set()
            await self._revoke(lease_id)  # deletes the key (it lives under the lease)
            log.info("%s resigned as controller (term %d)", self._node_id, term)
            for callback in list(self._callbacks):
                try:
                    callback(term)
                except Exception:
                    log.exception("leadership-lost callback failed")
        await self._link.close()
        self._owner._forget(self)


# ------------------------------------------------------------------------ the view


class _EtcdClusterView(HeldView):
    def __init__(self, owner: EtcdCoordination) -> None:
        super().__init__()
        self._owner = owner
        self._timing = owner.timing
        self._root = owner.root
        self._probe_key = owner.controller_key
        self._link = owner._new_link()
        # The keys applied at the highest revision applied (`_revision`; None: all
        # of it). A resumed watch starts at that revision and skips those keys,
        # so a revision cut short by a reconnect is finished, never repeated.
        self._applied: set[bytes] | None = None
        self._need_listing = True
        self._loaded = asyncio.Event()
        self.last_contact: float | None = None
        self.connected_since: float | None = None
        self.silence_before = 0.0
        #: when the view began waiting for etcd: a node started while etcd was down has
        #: waited that long before its first connection, an outage all the same
        self._waiting_since = time.monotonic()
        self.reconnects = 0
        self.relists = 0
        self.skipped = 0  # events seen again after a reconnect, not applied twice
        self._task: asyncio.Task[None] | None = None

    # -------------------------------------------------------------- reading

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    @property
    def endpoint(self) -> str:
        """The member the view currently talks to (``host:port``)."""
        return self._link.endpoint

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> bool:
        if self._task is None:
            self._waiting_since = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="yui-view")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loaded.wait(), self._owner.budget)
        return self.loaded

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._connected = False
        await self._link.close()
        self._owner._forget(self)

    # ------------------------------------------------------------ machinery

    def _emit(self, event: ClusterEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("cluster view listener failed")

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected:
            self._connected = connected
            if connected:
                now = time.monotonic()
                heard = self._waiting_since if self.last_contact is None else self.last_contact
                self.silence_before = now - heard
                self.connected_since = now
                log.info(
                    "cluster view watching via %s from %d (etcd silent %.1f s before)",
                    self.endpoint,
                    self._revision,
                    self.silence_before,
                )
            else:
                log.warning("cluster view lost etcd; serving revision %d", self._revision)
            self._signal()

    async def _run(self) -> None:
        # Hand-written, not a retry helper: a watch held for the view's life, where each
        # error kind acts differently (relist after compaction, mark disconnected).
        delay = 0.05
        while True:
            client: Any = None
            try:
                client = await self._link.client()
                if self._need_listing:
                    await self._list(client)
                delay = 0.05
                await self._watch(client)
            except asyncio.CancelledError:
                if _cancelled_from_outside():
                    raise
                log.info("cluster view: an etcd call was cancelled underneath; reconnecting")
                self._set_connected(False)
                await self._link.drop(client)
                await asyncio.sleep(delay)
                continue
            except etcd_errors.RevisionCompactedError as error:
                log.warning("watch history compacted (%s): listing etcd again", error)
                self._need_listing = True
            except Exception as error:
                if not _is_transient(error):
                    log.exception("cluster view: unexpected error")
                else:
                    log.info("cluster view: %r; reconnecting", error)
                    # the watch hears of a dead member first: the node's other links leave it
                    self._owner._member_failing(self._link.endpoint, self._link)
                self._set_connected(False)
                self.reconnects += 1
                await self._link.drop(client)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._timing.keepalive_interval_seconds)

    async def _list(self, client: Any) -> None:
        """Replace the state with a fresh listing; report the differences."""
        result = await _within(client.get_prefix(self._root), self._timing.retry_timeout_seconds)
        revision = int(result.header.revision)
        sites: dict[str, SiteRecord] = {}
        placements: dict[str, Placement] = {}
        controller: tuple[str, int] | None = None
        for kv in result:
            scope, name = self._split(kv.key)
            try:
                if scope == "site":
                    sites[name] = decode_site(kv.value)
                elif scope == "placement":
                    placements[name] = decode_placement(kv.value, revision=kv.mod_revision)
                elif scope == "controller":
                    controller = (kv.value.decode(errors="replace"), int(kv.create_revision))
            except CodecError as error:
                log.error("unreadable value at %r: %s", kv.key, error)
        events: list[ClusterEvent] = []
        for name in sorted(self._sites.keys() - sites.keys()):
            events.append(ClusterEvent("delete", "site", name, revision, resync=True))
        for name, site in sorted(sites.items()):
            if self._sites.get(name) != site:
                events.append(ClusterEvent("put", "site", name, revision, site=site, resync=True))
        for name in sorted(self._placements.keys() - placements.keys()):
            events.append(ClusterEvent("delete", "placement", name, revision, resync=True))
        for name, placement in sorted(placements.items()):
            if self._placements.get(name) != placement:
                events.append(
                    ClusterEvent(
                        "put", "placement", name, revision, placement=placement, resync=True
                    )
                )
        if controller != self._controller:
            events.append(
                ClusterEvent(
                    "put" if controller else "delete",
                    "controller",
                    controller[0] if controller else "",
                    revision,
                    resync=True,
                )
            )
        self._sites, self._placements, self._controller = sites, placements, controller
        self._revision, self._applied = revision, None
        self._need_listing = False
        self.relists += 1
        self._loaded.set()
        for event in events:
            self._emit(event)
        self._signal()

    async def _watch(self, client: Any) -> None:
        """Follow the watch; probe the member every keep-alive interval."""
        timing = self._timing
        start = self._revision + 1 if self._applied is None else self._revision
        watch = await _within(
            client.watch_prefix(self._root, start_revision=start),
            timing.retry_timeout_seconds + 0.5,
        )
        consumer = asyncio.get_running_loop().create_task(self._consume(watch))
        try:
            self._set_connected(True)
            self.last_contact = time.monotonic()
            while True:
                done, _ = await asyncio.wait({consumer}, timeout=timing.keepalive_interval_seconds)
                if consumer in done:
                    consumer.result()
                    raise _StreamEnded("watch stream ended")
                # A frozen or partitioned member keeps the stream open but silent:
                # a linearizable read through the same channel tells.
                await _within(client.get(self._probe_key), timing.retry_timeout_seconds)
                self.last_contact = time.monotonic()
        finally:
            await cancel_and_wait(consumer)
            with contextlib.suppress(Exception):
                await _within(watch.cancel(), 0.5)

    async def _consume(self, watch: Any) -> None:
        async for event in watch:
            self._apply(event)

    def _split(self, key: bytes) -> tuple[str, str]:
        rel = key[len(self._root) :].decode(errors="replace")
        if rel.startswith("sites/"):
            return "site", rel[len("sites/") :]
        if rel.startswith("placements/"):
            return "placement", rel[len("placements/") :]
        if rel == "controller":
            return "controller", ""
        return "", rel

    def _apply(self, raw: Any) -> None:
        kv = raw.kv
        revision = int(kv.mod_revision)
        key: bytes = kv.key
        if revision < self._revision or (
            revision == self._revision and (self._applied is None or key in self._applied)
        ):
            self.skipped += 1  # seen before the reconnect
            return
        if revision > self._revision:
            self._revision, self._applied = revision, {key}
        elif self._applied is not None:
            self._applied.add(key)
        self.last_contact = time.monotonic()
        event = self._change(raw.kind == "PUT", kv, revision)
        if event is not None:
            self._emit(event)
        self._signal()

    def _change(self, put: bool, kv: Any, revision: int) -> ClusterEvent | None:
        scope, name = self._split(kv.key)
        try:
            if scope == "site":
                if not put:
                    self._sites.pop(name, None)
                    return ClusterEvent("delete", "site", name, revision)
                site = decode_site(kv.value)
                self._sites[name] = site
                return ClusterEvent("put", "site", name, revision, site=site)
            if scope == "placement":
                if not put:
                    self._placements.pop(name, None)
                    return ClusterEvent("delete", "placement", name, revision)
                placement = decode_placement(kv.value, revision=revision)
                self._placements[name] = placement
                return ClusterEvent("put", "placement", name, revision, placement=placement)
            if scope == "controller":
                if not put:
                    self._controller = None
                    return ClusterEvent("delete", "controller", "", revision)
                node = kv.value.decode(errors="replace")
                self._controller = (node, int(kv.create_revision))
                return ClusterEvent("put", "controller", node, revision)
        except CodecError as error:
            # Keep serving the last good value rather than none.
            log.error("unreadable value at %r (revision %d): %s", kv.key, revision, error)
        return None
