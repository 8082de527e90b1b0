"""Requests between municipalities, in EDXL-RM 1.0.

A municipality asks another one it knows by its 全国地方公共団体コード (its prefecture, a
neighbour served by this platform): `send_request` writes the RequestResource as an
outgoing message row and enqueues its delivery job, in the same unit of work, so the
message is never lost nor sent without its row. The receiver (`receive`) keeps its own
copy, makes a request of it (origin "municipality"), and staff answer it as any request;
committing it sends a CommitResource back (`reply_commit`), and shipping it sends the
goods. A message for another municipality than the one it is delivered to is refused.
Each side's rows are its own tenant rows: they replicate and survive a failover with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplies.catalogue import service as catalogue
from supplies.catalogue.models import Item
from supplies.catalogue.schemas import ITEM_CODE_PATTERN
from supplies.edxl.message import (
    ITEM_LIST_URN,
    RECIPIENT,
    Contact,
    EdxlError,
    Kind,
    ResourceLine,
    ResourceMessage,
    Schedule,
    parse,
    render,
)
from supplies.exchange.models import Delivery, Direction, ExchangeMessage
from supplies.quantities import PositiveQuantity, check_whole
from supplies.requests import service as requests
from supplies.requests.models import Origin, Request, RequestLine, Status
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, InvalidInput, NotFound
from yui.jobs import service as jobs
from yui.jobs.models import FAILED, Job
from yui.tenancy.models import Tenant
from yui.text import InputModel

#: the job that delivers one outgoing message (supplies.exchange.job)
DELIVERY_KIND = "supplies.exchange.deliver"
TENANT_PATTERN = r"^\d{6}$"


class OutgoingLineIn(InputModel):
    item: str = Field(pattern=ITEM_CODE_PATTERN)
    quantity: PositiveQuantity


class OutgoingRequestIn(InputModel):
    to: str = Field(
        pattern=TENANT_PATTERN,
        description="要請先の全国地方公共団体コード（都道府県・他の市町村） / the municipality "
        "or prefecture asked, by its local government code",
    )
    needed_by: AwareDatetime | None = None
    deliver_to: str = Field(default="", max_length=200, description="届け先 / where to deliver")
    incident: str = Field(default="", max_length=100, description="災害名・ID / incident")
    lines: list[OutgoingLineIn] = Field(min_length=1, max_length=200)


class NotForThisTenant(InvalidInput):
    slug = "edxl-rm-other-tenant"
    title = (
        "他の自治体あての EDXL-RM メッセージです / The EDXL-RM message is for another municipality"
    )


def now() -> datetime:
    return datetime.now(UTC)


def messages(session: Session, *, limit: int = 200) -> list[ExchangeMessage]:
    return list(
        session.execute(
            select(ExchangeMessage).order_by(ExchangeMessage.created_at.desc()).limit(limit)
        ).scalars()
    )


def message(session: Session, message_row_id: str) -> ExchangeMessage:
    found = session.get(ExchangeMessage, message_row_id)
    if found is None:
        raise NotFound(f"メッセージ {message_row_id} はありません / no message {message_row_id}")
    return found


def _municipality(session: Session, tenant: str) -> str:
    found = session.get(Tenant, tenant)
    return found.name if found is not None else tenant


# --------------------------------------------------------------------------- sending


def send_request(
    uow: UnitOfWork, tenant: str, body: OutgoingRequestIn, *, actor: str
) -> ExchangeMessage:
    """Ask another municipality: the RequestResource and its delivery job, one commit."""
    session = uow.session
    if body.to == tenant:
        raise InvalidInput("自分の自治体には要請できません / a municipality does not ask itself")
    lines = []
    for number, line in enumerate(body.lines, start=1):
        item = catalogue.by_code(session, line.item)
        check_whole(
            line.quantity, whole_units=item.whole_units, item_code=item.code, unit=item.unit_ja
        )
        lines.append(
            _resource_line(f"line-{number}", item, line.quantity, body.needed_by, body.deliver_to)
        )
    edxl = ResourceMessage(
        kind=Kind.REQUEST,
        message_id=f"urn:uuid:{uuid.uuid4()}",
        sent_at=now(),
        originating_id="",
        incident_id=body.incident,
        contacts=(
            Contact("Requester", _municipality(session, tenant), body.deliver_to, tenant),
            Contact(RECIPIENT, "", "", body.to),
        ),
        lines=tuple(lines),
    )
    return _queue(uow, tenant, edxl, body.to, request_id=None, actor=actor)


def reply_commit(
    uow: UnitOfWork, tenant: str, request: Request, *, actor: str
) -> ExchangeMessage | None:
    """A committed request that came from another municipality: the CommitResource back,
    line by line (Accept with what is committed, Decline for nothing)."""
    if request.origin != Origin.MUNICIPALITY.value or not request.requester_tenant:
        return None
    session = uow.session
    lines = requests.lines_of(session, [request.id])[request.id]
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    answers = tuple(
        ResourceLine(
            element_id=f"commit-{number}",
            quantity=_edxl_quantity(line.committed) if line.committed > 0 else None,
            name=items[line.item_id].name_ja,
            type_urn=ITEM_LIST_URN,
            type_value=items[line.item_id].code,
            answers=line.element_id,
            response="Accept" if line.committed > 0 else "Decline",
            schedules=(Schedule("Committed", now(), ""),),
        )
        for number, line in enumerate(lines, start=1)
    )
    edxl = ResourceMessage(
        kind=Kind.COMMIT,
        message_id=f"urn:uuid:{uuid.uuid4()}",
        sent_at=now(),
        originating_id=request.requester_message_id,
        preceding_id=request.requester_message_id,
        contacts=(
            Contact("Owner", _municipality(session, tenant), "", tenant),
            Contact(RECIPIENT, "", "", request.requester_tenant),
        ),
        lines=answers,
    )
    return _queue(uow, tenant, edxl, request.requester_tenant, request_id=request.id, actor=actor)


def _queue(
    uow: UnitOfWork,
    tenant: str,
    edxl: ResourceMessage,
    to: str,
    *,
    request_id: str | None,
    actor: str,
) -> ExchangeMessage:
    session = uow.session
    row = ExchangeMessage(
        direction=Direction.OUT.value,
        kind=edxl.kind.value,
        message_id=edxl.message_id,
        counterpart=to,
        request_id=request_id,
        xml=render(edxl).decode("utf-8"),
        delivery=Delivery.QUEUED.value,
        created_at=now(),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    job = jobs.enqueue(uow, tenant, DELIVERY_KIND, {"message": row.id})
    row.job_id = str(job.id)
    _audit(session, row, actor, "supplies.exchange_send")
    return row


def resend(
    uow: UnitOfWork, tenant: str, row_id: str, *, actor: str
) -> tuple[ExchangeMessage, bool]:
    """Send an outgoing message again whose delivery failed: refused by the receiver (its
    cause since mended, e.g. a trust store) or given up by its job after every attempt. The
    same message (same id: the receiver records it once) gets a new delivery job. While a
    delivery is under way nothing new is queued (False): a repeated command is harmless."""
    session = uow.session
    # locked (PostgreSQL): two staff resending at once queue one job, not two
    row = session.get(ExchangeMessage, row_id, with_for_update=True)
    if row is None:
        raise NotFound(f"メッセージ {row_id} はありません / no message {row_id}")
    if row.direction != Direction.OUT.value:
        raise Conflict(
            "受け取ったメッセージは再送できません / only a message we sent can be sent again"
        )
    if row.delivery == Delivery.DELIVERED.value:
        raise Conflict("配送済みです / the message was delivered")
    if row.delivery == Delivery.QUEUED.value:
        job = _job_of(uow, row)
        if job is None or job.state != FAILED:
            return row, False
    row.delivery, row.detail, row.delivered_at = Delivery.QUEUED.value, "", None
    job = jobs.enqueue(uow, tenant, DELIVERY_KIND, {"message": row.id})
    row.job_id = str(job.id)
    _audit(session, row, actor, "supplies.exchange_resend")
    return row, True


def _job_of(uow: UnitOfWork, row: ExchangeMessage) -> Job | None:
    try:
        return jobs.get(uow, uuid.UUID(row.job_id))
    except (ValueError, NotFound):
        return None


def _resource_line(
    element_id: str, item: Item, quantity: Decimal, needed_by: datetime | None, where: str
) -> ResourceLine:
    return ResourceLine(
        element_id=element_id,
        quantity=_edxl_quantity(quantity),
        name=item.name_ja,
        type_urn=ITEM_LIST_URN,
        type_value=item.code,
        schedules=(Schedule("RequestedArrival", needed_by, where),) if needed_by or where else (),
    )


def _edxl_quantity(quantity: Decimal) -> int:
    """EDXL-RM's QuantityText is a whole number here: a fraction of an item's unit is
    rounded up for the asking side (never ask for less than is needed)."""
    return int(quantity.to_integral_value(rounding="ROUND_CEILING"))


def export_request(session: Session, tenant: str, request: Request) -> bytes:
    """A request of ours as a RequestResource (for a system outside the platform)."""
    lines = requests.lines_of(session, [request.id])[request.id]
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    edxl = ResourceMessage(
        kind=Kind.REQUEST,
        message_id=f"urn:yui:{tenant}:request:{request.id}",
        sent_at=request.submitted_at or request.created_at,
        contacts=(Contact("Requester", _municipality(session, tenant), "", tenant),),
        lines=tuple(
            _resource_line(
                line.element_id or line.id,
                items[line.item_id],
                line.requested,
                request.needed_by,
                "",
            )
            for line in lines
        ),
    )
    return render(edxl)


# --------------------------------------------------------------------------- receiving


def receive(
    session: Session, tenant: str, data: bytes, *, from_tenant: str, actor: str
) -> tuple[ExchangeMessage, bool]:
    """A message delivered to this municipality: (its row, whether it is new). A repeat of
    a message already received (same sender and id) is answered with the first row."""
    edxl = parse(data)
    _check_addressed(edxl, tenant)
    if edxl.sender != from_tenant:
        raise InvalidInput(
            f"送信元 {edxl.sender} が配送元の自治体 {from_tenant} と違います / the message's "
            f"sender {edxl.sender} is not the municipality {from_tenant} it was delivered for"
        )
    existing = session.execute(
        select(ExchangeMessage).where(
            ExchangeMessage.direction == Direction.IN.value,
            ExchangeMessage.counterpart == from_tenant,
            ExchangeMessage.message_id == edxl.message_id,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    row = _store_inbound(session, edxl, data, from_tenant, actor)
    if edxl.kind == Kind.REQUEST:
        request = _request_of(session, edxl, from_tenant, actor)
        row.request_id = request.id
    else:
        row.request_id = _answered_request(session, edxl, from_tenant)
    _audit(session, row, actor, "supplies.exchange_receive")
    return row, True


def import_file(session: Session, tenant: str, data: bytes, *, actor: str) -> ExchangeMessage:
    """Staff load an EDXL-RM file from outside the platform. It is kept as received; a
    RequestResource whose every line names an item of our catalogue also becomes a request."""
    edxl = parse(data)
    _check_addressed(edxl, tenant)
    sender = edxl.sender or ""
    duplicate = session.execute(
        select(ExchangeMessage).where(
            ExchangeMessage.direction == Direction.IN.value,
            ExchangeMessage.counterpart == sender,
            ExchangeMessage.message_id == edxl.message_id,
        )
    ).scalar_one_or_none()
    if duplicate is not None:
        raise Conflict(
            f"メッセージ {edxl.message_id} は取り込み済みです / message {edxl.message_id} was "
            "imported already"
        )
    row = _store_inbound(session, edxl, data, sender, actor)
    ours = all(line.item_code for line in edxl.lines)
    if edxl.kind == Kind.REQUEST and ours and sender:
        row.request_id = _request_of(session, edxl, sender, actor).id
    _audit(session, row, actor, "supplies.exchange_import")
    return row


def _check_addressed(edxl: ResourceMessage, tenant: str) -> None:
    if edxl.recipient is not None and edxl.recipient != tenant:
        raise NotForThisTenant(
            f"このメッセージは {edxl.recipient} あてです（こちらは {tenant}）。何も記録していません"
            f" / this message is for {edxl.recipient}, not {tenant}: nothing was recorded"
        )


def _store_inbound(
    session: Session, edxl: ResourceMessage, data: bytes, sender: str, actor: str
) -> ExchangeMessage:
    row = ExchangeMessage(
        direction=Direction.IN.value,
        kind=edxl.kind.value,
        message_id=edxl.message_id,
        counterpart=sender,
        xml=data.decode("utf-8", errors="replace"),
        delivery=Delivery.RECEIVED.value,
        created_at=now(),
        created_by=actor,
        delivered_at=now(),
    )
    session.add(row)
    session.flush()
    return row


def _request_of(session: Session, edxl: ResourceMessage, sender: str, actor: str) -> Request:
    """Their RequestResource as a request of ours, submitted, for staff to approve.
    Every line must name an item of our catalogue, in whole numbers: else nothing."""
    lines: list[tuple[Item, Decimal, str]] = []
    for line in edxl.lines:
        if line.item_code is None or line.quantity is None or line.quantity <= 0:
            raise EdxlError(
                f"明細 {line.element_id}: 品目コード（{ITEM_LIST_URN}）と 1 以上の数量が必要です / "
                f"line {line.element_id}: needs an item code ({ITEM_LIST_URN}) and a quantity "
                "of at least 1"
            )
        lines.append(
            (catalogue.by_code(session, line.item_code), Decimal(line.quantity), line.element_id)
        )
    needed = [s.at for line in edxl.lines for s in line.schedules if s.at is not None]
    at = now()
    request = Request(
        origin=Origin.MUNICIPALITY.value,
        shelter_id=None,
        requester_tenant=sender,
        requester_message_id=edxl.message_id,
        status=Status.SUBMITTED.value,
        needed_by=min(needed) if needed else None,
        note="; ".join(c.location for c in edxl.contacts if c.location)[:2000],
        created_at=at,
        created_by=actor,
        updated_at=at,
        submitted_at=at,
    )
    session.add(request)
    session.flush()
    merged: dict[str, RequestLine] = {}
    for item, quantity, element_id in lines:
        if item.id in merged:
            merged[item.id].requested += quantity
            merged[item.id].short += quantity
            continue
        merged[item.id] = RequestLine(
            request_id=request.id,
            item_id=item.id,
            requested=quantity,
            short=quantity,
            element_id=element_id[:100],
        )
        session.add(merged[item.id])
    session.flush()
    return request


def _answered_request(session: Session, edxl: ResourceMessage, sender: str) -> str | None:
    """A CommitResource answers one of our outgoing RequestResources: link it."""
    asked = session.execute(
        select(ExchangeMessage).where(
            ExchangeMessage.direction == Direction.OUT.value,
            ExchangeMessage.counterpart == sender,
            ExchangeMessage.message_id == (edxl.preceding_id or edxl.originating_id),
        )
    ).scalar_one_or_none()
    return asked.id if asked is not None else None


# --------------------------------------------------------------------------- delivery


def delivered(session: Session, row_id: str, outcome: dict[str, Any]) -> None:
    """The delivery job's last step: what the receiver answered, recorded on our row."""
    row = message(session, row_id)
    row.delivery = (Delivery.DELIVERED if outcome.get("delivered") else Delivery.REFUSED).value
    row.detail = str(outcome.get("detail", ""))[:2000]
    row.delivered_at = now()
    _audit(session, row, "job:supplies.exchange", f"supplies.exchange_{row.delivery}")


def _audit(session: Session, row: ExchangeMessage, actor: str, action: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type="supplies_exchange_message",
        subject_id=row.id,
        detail={
            "kind": row.kind,
            "message_id": row.message_id,
            "counterpart": row.counterpart,
            "direction": row.direction,
        },
    )
