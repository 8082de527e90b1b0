"""The domain-event bus: handlers run in the publisher's transaction, once each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from yui.events import EventBus, ShelterCheckedIn


def _check_in() -> ShelterCheckedIn:
    return ShelterCheckedIn("011002", "r-1", "s-1", "第一小学校", datetime.now(UTC))


def test_handlers_run_in_order_and_a_repeated_subscription_counts_once() -> None:
    bus = EventBus()
    seen: list[str] = []

    def first(event: ShelterCheckedIn, session: Session | None) -> None:
        seen.append("first:" + event.resident_id)

    def second(event: ShelterCheckedIn, session: Session | None) -> None:
        seen.append("second:" + event.resident_id)

    bus.subscribe(ShelterCheckedIn, first)
    bus.subscribe(ShelterCheckedIn, second)
    bus.subscribe(ShelterCheckedIn, first)
    bus.publish(_check_in())
    assert seen == ["first:r-1", "second:r-1"]
    bus.publish(object())  # an event nobody handles is fine
    assert len(seen) == 2


def test_a_failing_handler_reaches_the_publisher() -> None:
    bus = EventBus()

    def broken(event: ShelterCheckedIn, session: Session | None) -> None:
        raise RuntimeError("sign of life not recorded")

    bus.subscribe(ShelterCheckedIn, broken)
    with pytest.raises(RuntimeError, match="sign of life"):
        bus.publish(_check_in())
