"""The drill's load generator: uniquely identified writes through every site, as phones make them.

Each write has a client-generated UUID and a fixed body. It starts at the next site in
turn; when that site fails (no answer, a timeout, 5xx, 421, 429) the same write — same
id, same body — is tried at the next site, then the next, backing off after each round,
until a site acknowledges it or the write's deadline passes (the end of the load plus
``drain_seconds``: a phone keeps a report in its outbox until the server confirms it).

With a ``mix`` the load is a workload of three operations on the drill endpoints
(failover.drill.probe_api): probe inserts, counter increments (a read-modify-write whose
answer is the counter's new value) and deletes of probes this load had acknowledged. Each
operation keeps one id over its retries, so the site applies it once. With ``writes`` (a
:data:`WriteFactory`) each write is whatever the factory makes of it — a service's own
endpoint and body (a safety report, a stock movement); its body is logged with every
attempt, so the checker can compare what a copy holds with what the client sent.

Every attempt is logged as one JSON line (see :class:`Attempt`): the checker reads the
acknowledged ones, the report draws all of them. Only loopback targets are accepted: a
drill must never load someone else's servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

__all__ = [
    "ACK_STATUSES",
    "DEFAULT_MIX",
    "DEFAULT_PATH",
    "Attempt",
    "AuthHeaders",
    "BodyFactory",
    "LoadConfig",
    "LoadSummary",
    "SiteEndpoint",
    "Write",
    "WriteFactory",
    "acknowledged",
    "probe_body",
    "read_attempts",
    "run_load",
]

#: what counts as an acknowledgement of a write (202: taken for later processing, as the
#: safety check's open form keeps a submission for staff review)
ACK_STATUSES = frozenset({200, 201, 202, 204})
#: answers after which the same write is tried at another site
RETRY_STATUSES = frozenset({408, 421, 425, 429, 500, 502, 503, 504})
DEFAULT_PATH = "/api/v1/{tenant}/drill-probes"
COUNTER_PATH = "/api/v1/{tenant}/drill-counters/{counter}/increments"
#: the drills' workload: (inserts, increments, deletes) weights
DEFAULT_MIX = (0.6, 0.3, 0.1)
MAX_RATE = 5000.0
MAX_DURATION = 3600.0

#: (tenant, id, n) → the JSON body of write number n
BodyFactory = Callable[[str, uuid.UUID, int], dict[str, Any]]
#: tenant → request headers (e.g. a bearer token); called before every attempt
AuthHeaders = Callable[[str], Awaitable[Mapping[str, str]]]


@dataclass(frozen=True)
class Write:
    """One write of a service workload: where it is posted, with what, and what it is
    (logged as the attempt's ``op``: e.g. "report", "receipt", "transfer")."""

    path: str
    body: dict[str, Any]
    kind: str = "insert"
    #: sent with the load's auth headers; False: a citizen's request (a one-tap link, a
    #: public form), which carries no staff credentials
    signed: bool = True


#: (tenant, id, n) → write number n, the same over all its attempts
WriteFactory = Callable[[str, uuid.UUID, int], Write]


def probe_body(tenant: str, probe_id: uuid.UUID, n: int) -> dict[str, Any]:
    """The body of a drill probe (failover.drill.probe_api)."""
    return {"id": str(probe_id), "payload": f"drill {tenant} #{n}"}


@dataclass(frozen=True)
class SiteEndpoint:
    name: str
    url: str
    #: the network namespace on this machine that holds the site's private address (a
    #: sandbox started with --netns); None: the site must be on loopback
    namespace: str | None = None

    def __post_init__(self) -> None:
        host = urlsplit(self.url).hostname or ""
        if _is_loopback(host) or (self.namespace is not None and _is_private(host)):
            return
        raise ValueError(
            f"負荷はループバック（またはこの機械のネットワーク名前空間）にだけかけます / the load "
            f"generator targets loopback (or a network namespace on this machine) only, "
            f"not {self.url}"
        )


def _is_private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LoadConfig:
    sites: tuple[SiteEndpoint, ...]
    tenants: tuple[str, ...]
    #: writes started per second, over all tenants
    rate: float = 20.0
    #: seconds during which new writes start
    duration: float = 10.0
    path_template: str = DEFAULT_PATH
    body: BodyFactory = probe_body
    auth: AuthHeaders | None = None
    request_timeout: float = 2.0
    #: how long after the load an unacknowledged write keeps being retried
    drain_seconds: float = 10.0
    #: writes of one tenant in flight at once (a tenant's outage never starves the others)
    max_in_flight: int = 64
    #: the pause after a full round of failed sites; doubles each round, capped at 1 s
    retry_backoff: float = 0.05
    #: (inserts, increments, deletes) weights of a mixed workload on the drill endpoints;
    #: None: inserts only, through ``path_template`` and ``body``
    mix: tuple[float, float, float] | None = None
    #: the counters increments go to (each tenant has its own rows of each name)
    counters: tuple[str, ...] = ("c0", "c1")
    #: a service workload: each write made by this factory (``mix``, ``path_template`` and
    #: ``body`` are then unused); its bodies are logged
    writes: WriteFactory | None = None
    seed: int | None = None
    #: httpx's ``verify`` towards the sites (a sandbox with TLS: its CA and a client certificate)
    verify: ssl.SSLContext | bool = True

    def __post_init__(self) -> None:
        if not self.sites:
            raise ValueError("at least one site is needed")
        if not self.tenants:
            raise ValueError("at least one tenant is needed")
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"rate must be in (0, {MAX_RATE:g}] writes/s")
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] s")
        if self.max_in_flight < 1 or self.request_timeout <= 0 or self.drain_seconds < 0:
            raise ValueError("max_in_flight ≥ 1, request_timeout > 0 and drain_seconds ≥ 0")
        if "{tenant}" not in self.path_template:
            raise ValueError("path_template must contain {tenant}")
        if self.mix is not None and (
            len(self.mix) != 3 or min(self.mix) < 0 or sum(self.mix) <= 0 or not self.counters
        ):
            raise ValueError("mix is three non-negative weights, not all 0, with counters named")


@dataclass(frozen=True)
class _Operation:
    """One write of the load, the same over all its attempts."""

    op: str  # insert | increment | delete
    tenant: str
    id: str
    method: str
    path: str
    body: dict[str, Any] | None
    counter: str | None = None
    #: log the body with every attempt (a service workload's content, for the checker)
    logged: bool = False
    #: sent with the load's auth headers
    signed: bool = True


def _answer_value(op: str, response: httpx.Response) -> int | None:
    """increments: the counter's new value; deletes: 1 deleted now, 0 already absent."""
    if op == "delete":
        if response.status_code == 204:
            return 1
        if response.status_code == 200:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return int(bool(response.json()["deleted_now"]))
        return None
    if op == "increment" and response.status_code in (200, 201):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return int(response.json()["value"])
    return None


def _answer_object(response: httpx.Response) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        answer = response.json()
        return answer if isinstance(answer, dict) else None
    return None


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt of one write: a line of the drill's log."""

    t: float  # wall-clock time the attempt started (Unix seconds)
    t_done: float  # when its answer (or failure) came
    tenant: str
    id: str
    n: int  # the write's number in the run
    attempt: int  # 1, 2, … for the same write
    site: str  # the site the attempt was sent to
    status: int | None  # HTTP status, None without an answer
    served_by: str | None = None  # X-Yui-Served-By: the site that handled it
    epoch: int | None = None  # X-Yui-Epoch: the epoch the answering site writes with
    error: str | None = None
    final: bool = False  # the write's last attempt (acknowledged, rejected or given up)
    #: what the write does: "insert" (a probe), "increment" (a counter), "delete" (a probe)
    op: str = "insert"
    #: increments: the counter's name
    counter: str | None = None
    #: increments: the counter's value the answer reports; deletes: 1 when the answer
    #: says the probe was deleted now, 0 when it was already absent
    value: int | None = None
    #: a service workload's request body (the same at every attempt); None for probes
    body: dict[str, Any] | None = None
    #: a service workload's acknowledged answer (its JSON object): what a resend of the
    #: same id must answer again
    answer: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status in ACK_STATUSES

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attempt:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_attempts(path: Path) -> list[Attempt]:
    """Every attempt of a log file; a torn last line (a killed writer) is skipped."""
    attempts = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            with contextlib.suppress(ValueError, TypeError):
                attempts.append(Attempt.from_json(json.loads(line)))
    return attempts


@dataclass
class LoadSummary:
    log: Path
    started_at: float
    ended_at: float = 0.0
    writes: int = 0
    acknowledged: int = 0
    rejected: int = 0  # a final 4xx (conflict, auth, validation): retrying cannot help
    unacknowledged: int = 0  # still unconfirmed at the deadline
    shed: int = 0  # not sent: the tenant already had max_in_flight writes outstanding
    attempts: int = 0
    failed_attempts: int = 0
    by_site: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["log"] = str(self.log)
        return data


class _Log:
    def __init__(self, handle: IO[str], summary: LoadSummary) -> None:
        self.handle = handle
        self.summary = summary

    def write(self, attempt: Attempt) -> None:
        self.handle.write(attempt.to_json() + "\n")
        self.handle.flush()
        summary = self.summary
        summary.attempts += 1
        if attempt.acknowledged:
            served = attempt.served_by or attempt.site
            summary.by_site[served] = summary.by_site.get(served, 0) + 1
        else:
            summary.failed_attempts += 1


def _rotation(sites: Sequence[SiteEndpoint], start: int) -> Iterator[tuple[int, SiteEndpoint]]:
    """(round, site) forever, starting at sites[start]."""
    count = 0
    while True:
        yield count // len(sites), sites[(start + count) % len(sites)]
        count += 1


async def _one_write(
    client: httpx.AsyncClient,
    config: LoadConfig,
    log: _Log,
    n: int,
    operation: _Operation,
    deadline: float,
) -> str:
    """Write number n until acknowledged, rejected or out of time; returns the outcome."""
    tenant = operation.tenant
    last_round = 0
    # Hand-written, not a retry helper: this is the drill's model of a client (every
    # attempt at every site is logged for the checker), not plumbing.
    for number, (round_no, site) in enumerate(_rotation(config.sites, n), start=1):
        if round_no > last_round:
            await asyncio.sleep(min(config.retry_backoff * 2 ** (round_no - 1), 1.0))
            last_round = round_no
        now = time.time()
        if number > 1 and now >= deadline:
            return "unacknowledged"
        headers = dict(await config.auth(tenant)) if config.auth and operation.signed else {}
        started = time.time()
        status: int | None = None
        served_by = error = None
        epoch: int | None = None
        value: int | None = None
        answer: dict[str, Any] | None = None
        try:
            response = await client.request(
                operation.method,
                site.url.rstrip("/") + operation.path,
                json=operation.body,
                headers=headers,
                timeout=min(config.request_timeout, max(deadline - started, 0.1)),
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        else:
            status = response.status_code
            served_by = response.headers.get("x-yui-served-by")
            raw_epoch = response.headers.get("x-yui-epoch")
            epoch = int(raw_epoch) if raw_epoch and raw_epoch.isdigit() else None
            value = _answer_value(operation.op, response)
            if status not in ACK_STATUSES:
                error = response.text[:200]
            elif operation.logged:
                answer = _answer_object(response)
        outcome = (
            "acknowledged"
            if status in ACK_STATUSES
            else "rejected"
            if status is not None and status not in RETRY_STATUSES
            else None
        )
        log.write(
            Attempt(
                t=started,
                t_done=time.time(),
                tenant=tenant,
                id=operation.id,
                n=n,
                attempt=number,
                site=site.name,
                status=status,
                served_by=served_by,
                epoch=epoch,
                error=error,
                final=outcome is not None,
                op=operation.op,
                counter=operation.counter,
                value=value,
                body=operation.body if operation.logged else None,
                answer=answer,
            )
        )
        if outcome is not None:
            return outcome
    raise AssertionError("unreachable")  # pragma: no cover - the rotation never ends


class _Workload:
    """Chooses each write's operation: inserts only, or the mix (a delete takes a probe this
    load had acknowledged and not yet deleted; none yet → an insert)."""

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.random = random.Random(config.seed)
        self.deletable: dict[str, list[str]] = {t: [] for t in config.tenants}

    def next(self, n: int) -> _Operation:
        config = self.config
        tenant = config.tenants[n % len(config.tenants)]
        write_id = uuid.uuid4()
        if config.writes is not None:
            write = config.writes(tenant, write_id, n)
            return _Operation(
                write.kind,
                tenant,
                str(write_id),
                "POST",
                write.path,
                write.body,
                logged=True,
                signed=write.signed,
            )
        op = "insert"
        if config.mix is not None:
            op = self.random.choices(("insert", "increment", "delete"), weights=config.mix)[0]
            if op == "delete" and not self.deletable[tenant]:
                op = "insert"
        if op == "increment":
            counter = self.random.choice(config.counters)
            return _Operation(
                op,
                tenant,
                str(write_id),
                "POST",
                COUNTER_PATH.format(tenant=tenant, counter=counter),
                {"id": str(write_id)},
                counter=counter,
            )
        if op == "delete":
            pool = self.deletable[tenant]
            probe = pool.pop(self.random.randrange(len(pool)))
            return _Operation(
                op, tenant, probe, "DELETE", f"{DEFAULT_PATH.format(tenant=tenant)}/{probe}", None
            )
        path = (DEFAULT_PATH if config.mix is not None else config.path_template).format(
            tenant=tenant
        )
        body = probe_body(tenant, write_id, n) if config.mix is not None else None
        return _Operation(
            op, tenant, str(write_id), "POST", path, body or config.body(tenant, write_id, n)
        )

    def done(self, operation: _Operation, outcome: str) -> None:
        if self.config.mix is not None and operation.op == "insert" and outcome == "acknowledged":
            self.deletable[operation.tenant].append(operation.id)


async def run_load(
    config: LoadConfig,
    log_path: Path,
    *,
    stop: asyncio.Event | None = None,
    client: httpx.AsyncClient | None = None,
) -> LoadSummary:
    """Run the load for ``config.duration`` seconds (or until ``stop`` is set), then wait
    for the writes still in flight; append every attempt to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    summary = LoadSummary(log=log_path, started_at=time.time())
    own_client = client is None
    http = client or httpx.AsyncClient(
        limits=httpx.Limits(max_connections=min(config.max_in_flight * len(config.tenants), 1024)),
        trust_env=False,
        verify=config.verify,
    )
    slots = {tenant: asyncio.Semaphore(config.max_in_flight) for tenant in config.tenants}
    tasks: set[asyncio.Task[None]] = set()
    outcomes: dict[str, int] = {}
    workload = _Workload(config)

    with log_path.open("a", encoding="utf-8") as handle:
        log = _Log(handle, summary)
        loop_start = time.monotonic()
        deadline = summary.started_at + config.duration + config.drain_seconds

        async def write(n: int, slot: asyncio.Semaphore) -> None:
            try:
                operation = workload.next(n)
                outcome = await _one_write(http, config, log, n, operation, deadline)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                workload.done(operation, outcome)
            finally:
                slot.release()

        try:
            n = 0
            while not (stop is not None and stop.is_set()):
                offset = n / config.rate
                if offset >= config.duration:
                    break
                delay = loop_start + offset - time.monotonic()
                if delay > 0:
                    if stop is None:
                        await asyncio.sleep(delay)
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), delay)
                        if stop.is_set():
                            break
                slot = slots[config.tenants[n % len(config.tenants)]]
                if slot.locked():  # this tenant's phones are all waiting: shed, never block others
                    summary.shed += 1
                    n += 1
                    continue
                await slot.acquire()
                task = asyncio.create_task(write(n, slot))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            summary.writes = n - summary.shed
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            if own_client:
                await http.aclose()
    summary.ended_at = time.time()
    summary.acknowledged = outcomes.get("acknowledged", 0)
    summary.rejected = outcomes.get("rejected", 0)
    summary.unacknowledged = outcomes.get("unacknowledged", 0)
    return summary


def acknowledged(attempts: Iterable[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.acknowledged]
