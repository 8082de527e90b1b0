"""The delivery of one outgoing EDXL-RM message: a job of the sender's primary.

Two steps. `deliver` is external: the `Courier` (the composition root's, speaking the
sites' signed path) hands the message to the receiver's primary, fenced first
(`context.fence()`: a deposed primary sends nothing more) and idempotent by the
message's id (the receiver keeps one copy per sender and id, and answers a repeat
with the first result). `record` writes what the receiver answered on our row, in the
job's transaction. A transient failure (the receiver's primary unreachable or being
replaced) raises, and the job is retried with backoff, at whichever site is then the
sender's primary: the row and the job replicate with the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from supplies.exchange import service
from supplies.exchange.models import Delivery, ExchangeMessage
from yui.errors import InvalidInput
from yui.jobs.kinds import JobKind, Step, StepContext


@dataclass(frozen=True)
class Answer:
    """What the receiving site answered: its HTTP status and the problem's detail."""

    status: int
    detail: str = ""


class Courier(Protocol):
    def deliver(
        self, *, from_tenant: str, to_tenant: str, message_id: str, epoch: int, body: bytes
    ) -> Answer:
        """Hand the message to the receiving municipality's primary (raise or answer a 5xx
        when it cannot be reached now)."""
        ...


class NotDelivered(Exception):
    """The receiver could not take the message now: the job retries with backoff."""


#: answers that will not change by trying again: the receiver refused the message itself
FINAL_REFUSALS = frozenset({400, 404, 409, 413, 415, 422})


def delivery_kind(courier: Courier) -> JobKind:
    def deliver(context: StepContext) -> dict[str, Any]:
        with context.db.unit_of_work(context.tenant, read_only=True) as uow:
            row = service.message(uow.session, str(context.params["message"]))
            to, message_id, body = row.counterpart, row.message_id, row.xml.encode("utf-8")
            if row.delivery != Delivery.QUEUED.value:
                return {"delivered": row.delivery == Delivery.DELIVERED.value, "detail": row.detail}
        context.fence()
        answer = courier.deliver(
            from_tenant=context.tenant,
            to_tenant=to,
            message_id=message_id,
            epoch=context.epoch,
            body=body,
        )
        if answer.status in (200, 201):
            return {"delivered": True, "status": answer.status, "detail": ""}
        if answer.status in FINAL_REFUSALS:
            return {"delivered": False, "status": answer.status, "detail": answer.detail}
        raise NotDelivered(
            f"{to} に届きません（{answer.status}）: 後で再送します / {to} not reached "
            f"({answer.status}): delivery is retried"
        )

    def record(context: StepContext) -> dict[str, Any]:
        outcome: dict[str, Any] = dict(context.results[0])
        service.delivered(context.rows(), str(context.params["message"]), outcome)
        return outcome

    return JobKind(
        name=service.DELIVERY_KIND,
        steps=lambda _params: [Step("deliver", deliver, external=True), Step("record", record)],
        max_attempts=20,
        check=_check,
    )


def _check(params: dict[str, Any]) -> None:
    if not isinstance(params.get("message"), str):
        raise InvalidInput("message: the outgoing message's row id")


__all__ = ["Answer", "Courier", "ExchangeMessage", "NotDelivered", "delivery_kind"]
