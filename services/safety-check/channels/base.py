"""The sender interface every channel implements, its errors, retries and rate limit.

A message is sent at least once (a job step that is interrupted after a send runs
again), so each carries ``key``: the job step's ``context.effect_key`` plus the
recipient. The receiver keeps one message per key. ``epoch`` is the fencing token of
the step (the tenant's write epoch when it began): a receiver may refuse an epoch
lower than one it has already seen, and the sender then stops (`Fenced`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from yui.db.fencing import NotPrimary
from yui.errors import YuiError

T = TypeVar("T")

#: the header (SMTP and HTTP) that carries a message's idempotency key
KEY_HEADER = "Idempotency-Key"
#: the header that carries the fencing epoch of the job step that sent it
EPOCH_HEADER = "X-Yui-Fencing-Epoch"
#: the header that names the tenant (a receiver keeps the highest epoch per tenant)
TENANT_HEADER = "X-Yui-Tenant"


@dataclass(frozen=True)
class Message:
    """One message to one person."""

    tenant: str
    #: the recipient's address on the channel (an e-mail address, a phone number, a
    #: messaging platform's user id)
    to: str
    subject: str
    text: str
    #: the job step's effect key plus the recipient: the same at every attempt and site
    key: str
    #: the fencing token: the tenant's write epoch when the sending step began
    epoch: int
    #: the person's one-tap link (also inside ``text``; a webhook passes it apart)
    link: str = ""
    language: str = "ja"


class Sender(Protocol):
    """A channel. ``send`` returns once the receiver took the message (or already held
    one with its key); it raises `Refused` when the receiver will never take it (a bad
    address), `Fenced` when it refuses the epoch, `ChannelUnavailable` when retries
    ran out. Implementations are safe to call from several threads."""

    name: str

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


class ChannelError(YuiError):
    """A message could not be handed to its channel."""

    status = 502
    slug = "channel-error"
    title = "送信できませんでした / The message could not be sent"


class Refused(ChannelError):
    """The receiver refused this message for good (retrying will not help)."""

    slug = "channel-refused"
    title = "受け手が拒否しました / The receiver refused the message"


class Transient(ChannelError):
    """A failure worth retrying (connection lost, 4xx SMTP reply, HTTP 5xx or 429)."""

    slug = "channel-transient"


class ChannelUnavailable(ChannelError):
    """Retries ran out: the step fails and the job retries it later (same keys)."""

    status = 503
    slug = "channel-unavailable"
    title = "送信経路が使えません / The channel is unavailable"


class Fenced(NotPrimary):
    """The receiver has seen a higher epoch of the tenant: this site was deposed."""

    slug = "channel-fenced"
    title = "送信は新しい主系が行います / The new primary sends this message"


class RateLimit:
    """At most ``per_second`` sends per channel, bursts of ``burst`` (a token bucket
    shared by the threads of this process). A gateway's or relay's contract sets the
    rate; a site runs one worker, so the limit holds per site."""

    def __init__(
        self,
        per_second: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, int(per_second)))
        self._tokens = self.burst
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_second)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.per_second
            self._sleep(wait)


def with_retries(attempts: int, first_wait: float, call: Callable[[], T]) -> T:
    """``call`` again on `Transient` (exponential waits from ``first_wait``, at most
    ``attempts`` tries); after the last, `ChannelUnavailable`."""
    try:  # the first try without tenacity's machinery, which costs as much as a send
        return call()
    except Transient as error:
        failure = error
    try:
        if attempts > 1:
            time.sleep(first_wait)
            for attempt in Retrying(
                stop=stop_after_attempt(attempts - 1),
                wait=wait_exponential(multiplier=first_wait * 2, max=30),
                retry=retry_if_exception_type(Transient),
                reraise=True,
            ):
                with attempt:
                    return call()
    except Transient as error:
        failure = error
    raise ChannelUnavailable(
        f"{attempts} 回試しましたが送信できません / not sent after {attempts} attempts: "
        f"{failure.detail}"
    ) from failure
