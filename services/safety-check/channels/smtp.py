"""E-mail over SMTP (the standard library's smtplib), through a small pool of kept-open
connections so that a fan-out does not pay a handshake per message.

Each message carries its idempotency key (``Idempotency-Key``, and a ``Message-ID``
derived from it: a relay or mailbox that deduplicates by Message-ID keeps one) and the
fencing epoch (``X-Yui-Fencing-Epoch``). Replies: 4xx and a lost connection are retried
(`Transient`); 5xx is `Refused` (a bad address: retrying will not help), except the
sink's refusal of a stale epoch, which is `Fenced`.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import re
import smtplib
import ssl
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

#: a line that begins with a dot is sent with one more (RFC 5321 4.5.2)
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")
#: what the sink answers to a stale epoch (safety_check.channels.sink)
STALE_EPOCH_REPLY = "stale fencing epoch"


def message_id(key: str) -> str:
    """The Message-ID of the message with this idempotency key (the same at every resend)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@yui.invalid>"


def encoded_words(text: str) -> str:
    """A header value as RFC 2047 encoded words (UTF-8, base64), folded: each word
    holds whole characters and stays within the 76-character line limit."""
    words, chunk = [], b""
    for char in text:
        encoded = char.encode()
        if len(chunk) + len(encoded) > 45:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words)


def render(message: Message, sender_address: str) -> bytes:
    """The message as the bytes of an RFC 5322 e-mail: text/plain in UTF-8 (base64),
    the subject as encoded words. Written directly rather than through EmailMessage,
    which costs milliseconds a message (a fan-out sends a hundred thousand)."""
    for address in (message.to, sender_address):
        if not address.isascii() or any(c in address for c in "\r\n<>,") or "@" not in address:
            raise Refused(f"送れない宛先です / not an address we can send to: {address!r}")
    headers = (
        f"From: {sender_address}\r\n"
        f"To: {message.to}\r\n"
        f"Subject: {encoded_words(message.subject)}\r\n"
        f"Date: {formatdate(localtime=False)}\r\n"
        f"Message-ID: {message_id(message.key)}\r\n"
        f"Content-Language: {_token(message.language)}\r\n"
        f"{KEY_HEADER}: {_token(message.key)}\r\n"
        f"{EPOCH_HEADER}: {int(message.epoch)}\r\n"
        f"{TENANT_HEADER}: {_token(message.tenant)}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    body = base64.encodebytes(message.text.encode()).replace(b"\n", b"\r\n")
    return headers.encode("ascii") + body


def _token(value: str) -> str:
    """A header value of ours (key, tenant, language): printable ASCII on one line."""
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"not a header token: {value!r}")
    return value


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
            client.ehlo()
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
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
        data = render(message, self.sender_address)
        self.rate.acquire()
        with_retries(self.attempts, self.first_wait, lambda: self._send_once(message, data))

    def _send_once(self, message: Message, data: bytes) -> None:
        client = self._take()
        try:
            if client.has_extn("pipelining"):
                _pipelined(client, self.sender_address, message.to, data)
            else:
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


def _pipelined(client: smtplib.SMTP, sender: str, to: str, data: bytes) -> None:
    """One message with the envelope pipelined (RFC 2920, when the server offers it):
    MAIL, RCPT and DATA in one write, then the content: two round trips instead of four,
    which is most of the time a message takes on a fast local relay."""
    sock = client.sock
    if sock is None:
        raise smtplib.SMTPServerDisconnected("not connected")
    sock.sendall(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode("ascii"))
    (mail, mail_text), (rcpt, rcpt_text), (start, start_text) = (
        client.getreply() for _ in range(3)
    )
    if start == 354 and (mail != 250 or rcpt not in (250, 251)):
        sock.sendall(b".\r\n")  # end the transaction we could not use
        client.getreply()
    if mail != 250:
        client.rset()
        raise smtplib.SMTPSenderRefused(mail, mail_text, sender)
    if rcpt not in (250, 251):
        client.rset()
        raise smtplib.SMTPRecipientsRefused({to: (rcpt, rcpt_text)})
    if start != 354:
        client.rset()
        raise smtplib.SMTPDataError(start, start_text)
    body = _DOT_AT_LINE_START.sub(b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    sock.sendall(body + b".\r\n")
    code, text = client.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, text)


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
