"""HTTP routes of EDXL-RM: asking another municipality, the signed inbound path between
sites, importing and exporting files. Thin: the service decides."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel

from supplies.access import StaffReader, StaffWriter, reach_of
from supplies.exchange import service
from supplies.exchange import signing as sig
from supplies.exchange.models import ExchangeMessage
from supplies.requests import service as requests
from supplies.requests.schemas import UUID_PATTERN
from yui.db.types import UtcDateTime
from yui.errors import Forbidden, InvalidInput, Unavailable
from yui.http.deps import Tenant, UoW
from yui.http.gateway import SiteSignatures

router = APIRouter(tags=["relief supplies"])

#: an EDXL-RM message is a few KiB; the XML loader refuses more than 1 MiB anyway
MAX_MESSAGE_BYTES = 1 << 20
XML = "application/xml"


class MessageOut(BaseModel):
    id: str
    direction: str
    kind: str
    message_id: str
    counterpart: str
    request_id: str | None
    delivery: str
    detail: str
    job_id: str
    created_at: UtcDateTime
    created_by: str
    delivered_at: UtcDateTime | None


def message_out(row: ExchangeMessage) -> MessageOut:
    return MessageOut(
        id=row.id,
        direction=row.direction,
        kind=row.kind,
        message_id=row.message_id,
        counterpart=row.counterpart,
        request_id=row.request_id,
        delivery=row.delivery,
        detail=row.detail,
        job_id=row.job_id,
        created_at=row.created_at,
        created_by=row.created_by,
        delivered_at=row.delivered_at,
    )


async def xml_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_MESSAGE_BYTES):
        raise InvalidInput(f"本文が大きすぎます / body over {MAX_MESSAGE_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"本文が大きすぎます / body over {MAX_MESSAGE_BYTES} bytes")
    return body


XmlBody = Annotated[bytes, Depends(xml_body)]


def site_signatures(request: Request) -> SiteSignatures:
    signatures: SiteSignatures | None = getattr(request.app.state, "site_signatures", None)
    if signatures is None:
        raise Unavailable(
            "この拠点は拠点間の署名を検証できません / this site cannot verify other sites' "
            "signatures (replication is not configured)"
        )
    return signatures


def signed_delivery(
    request: Request,
    tenant: Tenant,
    body: XmlBody,
    signatures: Annotated[SiteSignatures, Depends(site_signatures)],
) -> str:
    """The municipality a delivery comes from, when a trusted site signed it for this
    tenant, this body and a time within the window; otherwise 403, nothing read."""
    headers = request.headers
    site = headers.get(sig.SITE_HEADER, "")
    from_tenant = headers.get(sig.FROM_HEADER, "")
    message_id = headers.get(sig.MESSAGE_HEADER, "")
    timestamp = headers.get(sig.TIME_HEADER, "")
    epoch = headers.get(sig.EPOCH_HEADER, "")
    signature = headers.get(sig.SIGNATURE_HEADER, "")
    refused = Forbidden(
        "拠点の署名がない、または正しくない配送です / a delivery must be signed by a site of "
        "the platform"
    )
    if not (site and from_tenant.isdigit() and len(from_tenant) == 6 and signature):
        raise refused
    if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > sig.WINDOW_SECONDS:
        raise refused
    data = sig.signing_input(site, from_tenant, tenant, message_id, timestamp, epoch, body)
    if not signatures.verify(site, data, signature):
        raise refused
    return from_tenant


@router.post(
    "/supplies/exchange/inbound",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    summary="他の自治体からの EDXL-RM（拠点間の署名つき配送のみ） / an EDXL-RM message from "
    "another municipality (signed deliveries between sites only)",
)
def inbound(
    tenant: Tenant,
    body: XmlBody,
    uow: UoW,
    response: Response,
    from_tenant: Annotated[str, Depends(signed_delivery)],
) -> MessageOut:
    row, created = service.receive(
        uow.session, tenant, body, from_tenant=from_tenant, actor=f"municipality:{from_tenant}"
    )
    uow.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    return message_out(row)


@router.post(
    "/supplies/exchange/requests",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    summary="他の自治体・都道府県へ要請（EDXL-RM RequestResource を配送） / ask another "
    "municipality or the prefecture (an EDXL-RM RequestResource, delivered by a job)",
)
def send_request(
    body: service.OutgoingRequestIn, tenant: Tenant, uow: UoW, principal: StaffWriter
) -> MessageOut:
    row = service.send_request(uow, tenant, body, actor=principal.username)
    uow.commit()
    return message_out(row)


@router.post(
    "/supplies/exchange/messages/{row_id}/resend",
    response_model=MessageOut,
    responses={202: {"model": MessageOut, "description": "再送を予約 / a new delivery job queued"}},
    summary="配送に失敗した送信メッセージを再送（同じメッセージID、新しい配送ジョブ） / send "
    "again a message whose delivery failed (same message id, a new delivery job)",
)
def resend(
    row_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    tenant: Tenant,
    uow: UoW,
    principal: StaffWriter,
    response: Response,
) -> MessageOut:
    row, queued = service.resend(uow, tenant, row_id, actor=principal.username)
    uow.commit()
    if queued:
        response.status_code = status.HTTP_202_ACCEPTED
    return message_out(row)


@router.post(
    "/supplies/exchange/import",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    summary="EDXL-RM ファイルの取り込み / import an EDXL-RM file",
    openapi_extra={"requestBody": {"content": {XML: {"schema": {"type": "string"}}}}},
)
def import_file(tenant: Tenant, body: XmlBody, uow: UoW, principal: StaffWriter) -> MessageOut:
    row = service.import_file(uow.session, tenant, body, actor=principal.username)
    uow.commit()
    return message_out(row)


@router.get(
    "/supplies/exchange/messages",
    response_model=list[MessageOut],
    summary="送受信した EDXL-RM メッセージ / EDXL-RM messages sent and received",
)
def list_messages(uow: UoW, principal: StaffReader) -> list[MessageOut]:
    return [message_out(row) for row in service.messages(uow.session)]


@router.get(
    "/supplies/exchange/messages/{row_id}/xml",
    response_class=Response,
    summary="メッセージの XML / a message's XML",
    responses={200: {"content": {XML: {}}}},
)
def message_xml(
    row_id: Annotated[str, Path(pattern=UUID_PATTERN)], uow: UoW, principal: StaffReader
) -> Response:
    return Response(service.message(uow.session, row_id).xml.encode("utf-8"), media_type=XML)


@router.get(
    "/supplies/requests/{request_id}/edxl",
    response_class=Response,
    summary="要請を EDXL-RM RequestResource で書き出す / a request as EDXL-RM RequestResource",
    responses={200: {"content": {XML: {}}}},
)
def export_request(
    request_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    tenant: Tenant,
    uow: UoW,
    principal: StaffReader,
) -> Response:
    request = requests.get(uow.session, request_id, reach_of(uow.session, principal))
    return Response(service.export_request(uow.session, tenant, request), media_type=XML)
