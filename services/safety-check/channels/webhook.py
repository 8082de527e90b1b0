"""A webhook: one HTTP POST per message to an SMS gateway or a messaging platform's
relay (LINE and similar are reached this way; the relay holds the platform's own
credentials). The body is JSON; the idempotency key and the fencing epoch travel as
headers (and in the body), and with a shared secret the body is signed
(``X-Yui-Signature: sha256=<hex HMAC>``) so the receiver can tell it came from us.

Replies: 2xx taken (a receiver that already holds the key answers 2xx too); 429, 5xx
and connection errors are retried (`Transient`); 409 naming a stale epoch is `Fenced`;
any other 4xx is `Refused`.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from safety_check.channels.base import (
    EPOCH_HEADER,
    KEY_HEADER,
    TENANT_HEADER,
    Fenced,
    Message,
    RateLimit,
    Refused,
    Transient,
    with_retries,
)

SIGNATURE_HEADER = "X-Yui-Signature"
STALE_EPOCH = "stale-epoch"


def payload(message: Message) -> dict[str, object]:
    return {
        "key": message.key,
        "epoch": message.epoch,
        "tenant": message.tenant,
        "to": message.to,
        "subject": message.subject,
        "text": message.text,
        "link": message.link,
        "language": message.language,
    }


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(
        self,
        url: str,
        *,
        rate: RateLimit,
        name: str = "webhook",
        secret: bytes | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
        first_wait: float = 0.2,
        verify: bool | str = True,
    ) -> None:
        self.name = name
        self.url = url
        self.rate = rate
        self.secret = secret
        self.attempts, self.first_wait = attempts, first_wait
        self._client = httpx.Client(timeout=timeout, verify=verify)

    def send(self, message: Message) -> None:
        body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            KEY_HEADER: message.key,
            EPOCH_HEADER: str(message.epoch),
            TENANT_HEADER: message.tenant,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        self.rate.acquire()
        with_retries(self.attempts, self.first_wait, lambda: self._post(message, body, headers))

    def _post(self, message: Message, body: bytes, headers: dict[str, str]) -> None:
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise Transient(f"webhook に届きません / webhook unreachable: {error}") from error
        if response.is_success:
            return
        code = response.status_code
        if code == 409 and STALE_EPOCH in response.text:
            raise Fenced(
                f"受け手が {message.tenant} のより新しいエポックを見ています / the receiver has "
                f"seen a newer epoch of {message.tenant} than {message.epoch}"
            )
        if code == 429 or code >= 500:
            raise Transient(f"webhook HTTP {code}")
        raise Refused(f"webhook HTTP {code}: {response.text[:200]}", to=message.to)

    def close(self) -> None:
        self._client.close()
