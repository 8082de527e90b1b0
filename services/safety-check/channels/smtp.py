"""E-mail over SMTP (the standard library's smtplib), through a small pool of kept-open
connections so that a fan-out does not pay a handshake per message.

Each message carries its idempotency key (``Idempotency-Key``, and a ``Message-ID``
derived from it: a relay or mailbox that deduplicates by Message-ID keeps one) and the
fencing epoch (``X-Yui-Fencing-Epoch``). Replies: 4xx and a lost connection are retried
(`Transient`); 5xx is `Refused` (a bad address: retrying will not help), except the
sink's refusal of a stale epoch, which is `Fenced`.
"""

from __future__ import annotations

import hashlib
import queue
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

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

#: what the sink answers to a stale epoch (safety_check.channels.sink)
STALE_EPOCH_REPLY = "stale fencing epoch"


def message_id(key: str) -> str:
    """The Message-ID of the message with this idempotency key (the same at every resend)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@yui.invalid>"


def to_email(message: Message, sender_address: str) -> EmailMessage:
    email = EmailMessage(policy=SMTP)
    email["From"] = sender_address
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id(message.key)
    email["Content-Language"] = message.language
    email[KEY_HEADER] = message.key
    email[EPOCH_HEADER] = str(message.epoch)
    email[TENANT_HEADER] = message.tenant
    email.set_content(message.text)
    return email


class SmtpSender:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender_address: str,
        rate: RateLimit,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
        first_wait: float = 0.2,
        connections: int = 4,
    ) -> None:
        self.host, self.port = host, port
        self.sender_address = sender_address
        self.rate = rate
        self.starttls = starttls
        self.username, self.password = username, password
        self.timeout = timeout
        self.attempts, self.first_wait = attempts, first_wait
        #: idle connections; at most ``connections`` are kept
        self._idle: queue.LifoQueue[smtplib.SMTP] = queue.LifoQueue(maxsize=connections)

    def _connect(self) -> smtplib.SMTP:
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as error:
            raise Transient(
                f"SMTP {self.host}:{self.port} に接続できません / cannot reach SMTP "
                f"{self.host}:{self.port}: {error}"
            ) from error
        return client

    def _take(self) -> smtplib.SMTP:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect()

    def _give_back(self, client: smtplib.SMTP) -> None:
        try:
            self._idle.put_nowait(client)
        except queue.Full:
            _quit(client)

    def send(self, message: Message) -> None:
        data = to_email(message, self.sender_address).as_bytes()
        self.rate.acquire()
        with_retries(self.attempts, self.first_wait, lambda: self._send_once(message, data))

    def _send_once(self, message: Message, data: bytes) -> None:
        client = self._take()
        try:
            client.sendmail(self.sender_address, [message.to], data)
        except smtplib.SMTPRecipientsRefused as refused:
            self._give_back(client)  # the session is still good: only the address was not
            code, reply = next(iter(refused.recipients.values()))
            _raise_for(code, reply, message)
        except smtplib.SMTPResponseException as error:
            _quit(client)
            _raise_for(error.smtp_code, error.smtp_error, message)
        except (OSError, smtplib.SMTPException) as error:
            _quit(client)
            raise Transient(f"SMTP の接続が切れました / SMTP connection lost: {error}") from error
        else:
            self._give_back(client)

    def close(self) -> None:
        while True:
            try:
                _quit(self._idle.get_nowait())
            except queue.Empty:
                return


def _raise_for(code: int, reply: bytes | str, message: Message) -> None:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    if STALE_EPOCH_REPLY in text:
        raise Fenced(
            f"受け手が {message.tenant} のより新しいエポックを見ています（この主系は退位しました） / "
            f"the receiver has seen a newer epoch of {message.tenant} than {message.epoch}: "
            f"this site was deposed"
        )
    if 400 <= code < 500:
        raise Transient(f"SMTP {code} {text}")
    raise Refused(f"SMTP {code} {text}", to=message.to)


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
