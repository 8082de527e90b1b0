"""A job step with an external effect (a message sent to a local HTTP receiver) when its
primary is lost in the middle of it: the step is fenced by the epoch it began in, the
new primary runs it with the same idempotency key, and the receiver sees one effect."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx
import pytest

from tests.replication.harness import SENDAI, Cluster, commit
from yui.db.fencing import NotPrimary
from yui.jobs import service
from yui.jobs.kinds import JobKind, JobKinds, Step, StepContext
from yui.jobs.runner import run_job

pytestmark = pytest.mark.anyio


class Receiver:
    """Keeps one effect per idempotency key (and every delivery, to count them)."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.effects: dict[str, dict[str, Any]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.deliveries.append(body)
                receiver.effects.setdefault(body["key"], body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    sink = Receiver()
    yield sink
    sink.server.shutdown()


def _kinds(sink: Receiver, hold: threading.Event | None, sent: threading.Event) -> JobKinds:
    def prepare(context: StepContext) -> dict[str, str]:
        return {"site": context.site}

    def send(context: StepContext) -> dict[str, str]:
        if hold is not None and context.site == "site-a":
            hold.wait(30)  # a long step: its primary is lost meanwhile
        context.fence()  # stops here at a deposed primary
        httpx.post(
            sink.url,
            json={"key": context.effect_key, "epoch": context.epoch, "site": context.site},
        )
        sent.set()
        return {"site": context.site}

    kinds = JobKinds()
    kinds.register(
        JobKind("notify", lambda _p: [Step("prepare", prepare), Step("send", send, True)])
    )
    return kinds


async def _fail_over(cluster: Cluster) -> None:
    cluster.router.isolated.add("site-a")
    controller = cluster.client("site-c")
    epoch = cluster.placements.revision + 1
    for replica in ("site-b", "site-c"):
        await controller.seal(replica, SENDAI, epoch)
    cluster.place("site-b", ("site-c", "site-a"), in_sync=("site-c",))
    b = cluster["site-b"]
    # its copy's role, then its running primary: between the two, writes there get a
    # retryable "taking over" (a job's step too), as they would from a client
    await cluster.wait_for(
        lambda: b.state().role == "primary" and SENDAI in b.node.primaries,
        what="b to take over",
    )


async def _start(cluster: Cluster) -> uuid.UUID:
    cluster.place("site-a", ("site-b", "site-c"))
    await cluster.create_tenant("site-a")

    def enqueue(db: Any) -> uuid.UUID:
        with db.unit_of_work(SENDAI) as uow:
            job = service.enqueue(uow, SENDAI, "notify", {})
            uow.commit()
            return job.id

    job: list[uuid.UUID] = []
    await commit(cluster["site-a"], lambda db: job.append(enqueue(db)))
    return job[0]


def _ours(cluster: Cluster, site: str) -> bool:
    placement = cluster.placements.placement(SENDAI)
    return placement is not None and placement.primary == site


async def test_a_deposed_primarys_long_step_stops_at_its_fence(
    cluster: Cluster, receiver: Receiver
) -> None:
    job_id = await _start(cluster)
    a, b = cluster["site-a"], cluster["site-b"]
    hold, sent = threading.Event(), threading.Event()
    kinds = _kinds(receiver, hold, sent)
    old_run: list[Any] = []
    thread = threading.Thread(
        target=lambda: old_run.append(
            run_job(
                a.db,
                kinds,
                SENDAI,
                job_id,
                site="site-a",
                still_ours=lambda: _ours(cluster, "site-a"),
            )
        )
    )
    thread.start()  # step 0 commits at a; step 1 waits
    await cluster.wait_for(lambda: _step(b, job_id) == 1, what="step 0 replicated")
    await _fail_over(cluster)
    outcome = await anyio.to_thread.run_sync(
        lambda: run_job(
            b.db, kinds, SENDAI, job_id, site="site-b", still_ours=lambda: _ours(cluster, "site-b")
        )
    )
    assert outcome.state == "done"
    hold.set()  # the deposed primary's step goes on, and meets its fence
    await anyio.to_thread.run_sync(thread.join)
    assert old_run[0].state == "fenced"
    assert [d["site"] for d in receiver.deliveries] == ["site-b"]
    assert list(receiver.effects) == [f"{job_id}:1"]


async def test_an_effect_sent_before_the_failover_is_sent_again_with_the_same_key(
    cluster: Cluster, receiver: Receiver
) -> None:
    job_id = await _start(cluster)
    a, b = cluster["site-a"], cluster["site-b"]
    sent = threading.Event()
    kinds = _kinds(receiver, None, sent)
    # The effect goes out, then the primary is lost before the step's marker commits.
    original = a.db.write_gate

    def lost(tenant: str) -> None:
        if sent.is_set():
            raise NotPrimary("the primary is lost (test)")
        if original is not None:
            original(tenant)

    a.db.write_gate = lost
    await anyio.to_thread.run_sync(
        lambda: run_job(a.db, kinds, SENDAI, job_id, site="site-a", still_ours=lambda: True)
    )
    assert sent.is_set() and _step(a, job_id) == 1
    await cluster.wait_for(lambda: _step(b, job_id) == 1, what="step 0 replicated")
    await _fail_over(cluster)
    outcome = await anyio.to_thread.run_sync(
        lambda: run_job(
            b.db, kinds, SENDAI, job_id, site="site-b", still_ours=lambda: _ours(cluster, "site-b")
        )
    )
    assert outcome.state == "done"
    assert [d["site"] for d in receiver.deliveries] == ["site-a", "site-b"]  # at least once
    assert list(receiver.effects) == [f"{job_id}:1"]  # one effect: the key is the same
    epochs = [d["epoch"] for d in receiver.deliveries]
    assert epochs[1] > epochs[0]  # the fencing token names the newer primary


def _step(site: Any, job_id: uuid.UUID) -> int:
    with site.db.unit_of_work(SENDAI, read_only=True) as uow:
        try:
            return service.get(uow, job_id).step
        except Exception:
            return -1
