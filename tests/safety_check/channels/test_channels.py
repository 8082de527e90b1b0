"""The channels against real receivers: an aiosmtpd SMTP sink and a local HTTP server."""

from __future__ import annotations

import email
import time
from email.policy import default
from pathlib import Path

import pytest

from safety_check.channels.base import ChannelUnavailable, Fenced, Message, RateLimit, Refused
from safety_check.channels.settings import OutreachSettings, senders
from safety_check.channels.sink import SmtpSink, duplicate_keys, free_port, stored_messages
from safety_check.channels.smtp import SmtpSender
from safety_check.channels.webhook import SIGNATURE_HEADER, WebhookSender, signature
from tests.safety_check.channels.receivers import webhook_receiver


def message(n: int, *, epoch: int = 3, to: str | None = None) -> Message:
    return Message(
        tenant="041009",
        to=to or f"resident{n}@example.jp",
        subject="【安否確認】ご無事ですか / Are you safe?",
        text=f"こちらから回答してください / answer here: https://yui.example/s/{n}",
        key=f"job-1:0:resident-{n}",
        epoch=epoch,
        link=f"https://yui.example/s/{n}",
    )


def smtp_sender(sink: SmtpSink, **options: object) -> SmtpSender:
    return SmtpSender(
        sink.host,
        sink.port,
        sender_address="anpi@city.example.jp",
        rate=RateLimit(1000),
        first_wait=0.01,
        **options,  # type: ignore[arg-type]
    )


def test_smtp_one_message_per_key_with_key_and_epoch(tmp_path: Path) -> None:
    with SmtpSink(tmp_path / "sink") as sink:
        sender = smtp_sender(sink)
        for n in range(3):
            sender.send(message(n))
        sender.send(message(1))  # a step run again after a failover: the same key
        sender.close()
    stored = stored_messages(tmp_path / "sink")
    assert len(stored) == 3
    assert duplicate_keys(tmp_path / "sink") == ["job-1:0:resident-1"]
    parsed = [email.message_from_bytes(path.read_bytes(), policy=default) for path in stored]
    assert {str(m["Idempotency-Key"]) for m in parsed} == {
        f"job-1:0:resident-{n}" for n in range(3)
    }
    assert {str(m["X-Yui-Fencing-Epoch"]) for m in parsed} == {"3"}
    first = next(m for m in parsed if m["To"] == "resident0@example.jp")
    assert first["Subject"] == "【安否確認】ご無事ですか / Are you safe?"
    assert "https://yui.example/s/0" in first.get_content()


def test_smtp_stale_epoch_fenced_refused_address_and_unreachable(tmp_path: Path) -> None:
    folder = tmp_path / "sink"
    with SmtpSink(folder, refuse=lambda to: to.endswith("@refused.invalid")) as sink:
        sender = smtp_sender(sink)
        sender.send(message(1, epoch=5))  # the new primary sent at epoch 5
        with pytest.raises(Fenced):
            sender.send(message(2, epoch=4))  # the deposed primary's late send
        with pytest.raises(Refused):
            sender.send(message(3, epoch=5, to="nobody@refused.invalid"))
        sender.send(message(4, epoch=5))  # the kept connection still works
        sender.close()
    assert len(stored_messages(folder)) == 2
    closed = SmtpSender(
        "127.0.0.1", free_port(), sender_address="a@b.jp", rate=RateLimit(1000), first_wait=0.01
    )
    started = time.monotonic()
    with pytest.raises(ChannelUnavailable):
        closed.send(message(5))
    assert time.monotonic() - started < 5


def test_rate_limit_spaces_sends() -> None:
    limit = RateLimit(100, burst=1)
    started = time.monotonic()
    for _ in range(21):
        limit.acquire()
    assert time.monotonic() - started >= 0.19


def test_each_channel_sends_at_its_own_configured_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's channels each get the rate their settings give (a bucket of their own),
    and a sender waits on it: a webhook held to 5/s (bursts of 5) takes at least 0.8 s for
    9 messages to the local receiver, and e-mail keeps its own rate."""
    with webhook_receiver() as (url, received), SmtpSink(tmp_path / "sink") as sink:
        monkeypatch.setenv("YUI_SAFETY_SMTP_HOST", sink.host)
        monkeypatch.setenv("YUI_SAFETY_SMTP_PORT", str(sink.port))
        monkeypatch.setenv("YUI_SAFETY_SMTP_RATE_PER_SECOND", "1000")
        monkeypatch.setenv("YUI_SAFETY_WEBHOOK_URL", url)
        monkeypatch.setenv("YUI_SAFETY_WEBHOOK_RATE_PER_SECOND", "5")
        channels = senders(OutreachSettings())
        webhook, mail = channels["webhook"], channels["email"]
        assert isinstance(webhook, WebhookSender) and isinstance(mail, SmtpSender)
        assert (webhook.rate.per_second, mail.rate.per_second) == (5, 1000)
        assert webhook.rate is not mail.rate
        started = time.monotonic()
        for n in range(9):
            webhook.send(message(n))
        assert time.monotonic() - started >= 0.79
        assert len(received.by_key) == 9
        mail.send(message(9))
        webhook.close()
        mail.close()
    assert len(stored_messages(tmp_path / "sink")) == 1


def test_webhook_retries_dedupes_signs_and_fences() -> None:
    with webhook_receiver() as (url, received):
        received.fail_with = [503, 429]
        sender = WebhookSender(url, rate=RateLimit(1000), secret=b"s3cret", first_wait=0.01)
        sender.send(message(1))  # two failures, then taken
        sender.send(message(1))  # again: the receiver keeps one
        sender.send(message(2))
        assert received.posts == 5
        assert sorted(received.by_key) == ["job-1:0:resident-1", "job-1:0:resident-2"]
        assert received.duplicates == 1
        key = "job-1:0:resident-1"
        assert received.by_key[key]["link"] == "https://yui.example/s/1"
        assert received.headers[key]["X-Yui-Fencing-Epoch"] == "3"
        assert received.headers[key][SIGNATURE_HEADER] == signature(b"s3cret", received.raw[key])
        with pytest.raises(Refused):
            sender.send(message(3, to="x@refused.invalid"))
        sender.send(message(4, epoch=7))
        with pytest.raises(Fenced):
            sender.send(message(5, epoch=6))
        received.fail_with = [500] * 10
        with pytest.raises(ChannelUnavailable):
            sender.send(message(6, epoch=7))
        sender.close()
        assert "job-1:0:resident-5" not in received.by_key
