"""Holding a write's answer until replication confirms it (an ASGI middleware).

The kernel calls ``Database.on_logged`` after every commit that logged entries, in the
committing thread. The node's callback records ``(tenant, last seq)`` in a list this
middleware put in a context variable for the request (the worker thread runs in a
copy of the request's context, which refers to the same list). When the endpoint's
answer starts, the middleware waits for replication of what the request committed;
if that fails, the client gets a 503 problem+json instead — the services write no
replication code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yui.db.context import LogRow
from yui.errors import YuiError
from yui.http.problems import problem_response

#: (tenant, last seq) of every commit of the current request that logged entries
COMMITTED: ContextVar[list[tuple[str, int]] | None] = ContextVar("yui_committed", default=None)

Waiter = Callable[[Sequence[tuple[str, int]]], Awaitable[None]]


def record(tenant: str, last_seq: int, _rows: Sequence[LogRow] = ()) -> None:
    """The on_logged side (any thread)."""
    committed = COMMITTED.get()
    if committed is not None:
        committed.append((tenant, last_seq))


class ReplicationAcks:
    def __init__(self, app: ASGIApp, wait: Waiter, skip_prefix: str = "/replication/") -> None:
        self.app = app
        self.wait = wait
        self.skip_prefix = skip_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefix):
            await self.app(scope, receive, send)
            return
        committed: list[tuple[str, int]] = []
        token = COMMITTED.set(committed)
        replaced = False

        async def send_when_replicated(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and committed and message["status"] < 400:
                try:
                    await self.wait(list(committed))
                except YuiError as error:
                    replaced = True
                    response = problem_response(
                        error.status,
                        error.detail,
                        slug=error.slug,
                        title=error.title,
                        instance=scope["path"],
                        headers={"Retry-After": "1"},
                    )
                    await response(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_when_replicated)
        finally:
            COMMITTED.reset(token)
