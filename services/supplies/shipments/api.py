"""HTTP routes of shipments, receipts and donation offers. Thin: the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplies.access import ShelterWorker, StaffReader, StaffWriter, StockReader, reach_of
from supplies.catalogue.models import Item
from supplies.shipments import service
from supplies.shipments.models import DonationOffer, Shipment
from supplies.shipments.schemas import (
    UUID_PATTERN,
    DecisionIn,
    DiscrepancyOut,
    DispatchIn,
    DonationIn,
    DonationLineOut,
    DonationOut,
    DonationReceiptIn,
    ReceiptIn,
    ShipmentLineOut,
    ShipmentOut,
)
from yui.auth.models import Role
from yui.auth.service import Principal
from yui.http.deps import UoW, require

router = APIRouter(tags=["relief supplies"])

Id = Annotated[str, Path(pattern=UUID_PATTERN, description="ID")]
#: ships: staff anywhere, a depot account from its own depots
Shipper = Annotated[Principal, Depends(require(Role.STAFF, Role.DEPOT))]


def shipment_out(session: Session, shipment: Shipment) -> ShipmentOut:
    return ShipmentOut(
        id=shipment.id,
        request_id=shipment.request_id,
        from_place_id=shipment.from_place_id,
        to_place_id=shipment.to_place_id,
        to_tenant=shipment.to_tenant,
        status=shipment.status,
        vehicle=shipment.vehicle,
        driver=shipment.driver,
        driver_phone=shipment.driver_phone,
        departed_at=shipment.departed_at,
        expected_at=shipment.expected_at,
        arrived_at=shipment.arrived_at,
        dispatched_by=shipment.dispatched_by,
        received_by=shipment.received_by,
        movement_id=shipment.movement_id,
        note=shipment.note,
        lines=[
            ShipmentLineOut(
                id=line.id,
                request_line_id=line.request_line_id,
                item_id=line.item_id,
                lot_id=line.lot_id,
                shipped=line.shipped,
                received=line.received,
            )
            for line in service.lines_of(session, shipment.id)
        ],
        discrepancies=[
            DiscrepancyOut(
                id=d.id,
                shipment_line_id=d.shipment_line_id,
                kind=d.kind,
                quantity=d.quantity,
                note=d.note,
                reported_by=d.reported_by,
                reported_at=d.reported_at,
            )
            for d in service.discrepancies_of(session, shipment.id)
        ],
    )


@router.post(
    "/supplies/requests/{request_id}/shipments",
    response_model=ShipmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="引当分を拠点から出荷（車両・運転者・時刻） / dispatch what a depot holds for the "
    "request (vehicle, driver, times)",
)
def dispatch(request_id: Id, body: DispatchIn, uow: UoW, principal: Shipper) -> ShipmentOut:
    shipment = service.dispatch(
        uow.session, request_id, body, reach_of(uow.session, principal), actor=principal.username
    )
    uow.commit()
    return shipment_out(uow.session, shipment)


@router.get(
    "/supplies/requests/{request_id}/shipments",
    response_model=list[ShipmentOut],
    summary="要請の出荷 / a request's shipments",
)
def request_shipments(request_id: Id, uow: UoW, principal: StockReader) -> list[ShipmentOut]:
    from supplies.requests import service as requests
    from supplies.requests.api import reading_reach

    requests.get(uow.session, request_id, reading_reach(uow.session, principal))
    return [shipment_out(uow.session, s) for s in service.of_request(uow.session, request_id)]


@router.get("/supplies/shipments/{shipment_id}", response_model=ShipmentOut, summary="出荷")
def read_shipment(shipment_id: Id, uow: UoW, principal: StockReader) -> ShipmentOut:
    shipment = service.get(uow.session, shipment_id, reach_of(uow.session, principal))
    return shipment_out(uow.session, shipment)


@router.post(
    "/supplies/shipments/{shipment_id}/receipt",
    response_model=ShipmentOut,
    summary="受領（一部受領・差異の報告） / receive a shipment (partly, with discrepancies)",
)
def receive(shipment_id: Id, body: ReceiptIn, uow: UoW, principal: ShelterWorker) -> ShipmentOut:
    shipment = service.receive(
        uow.session, shipment_id, body, reach_of(uow.session, principal), actor=principal.username
    )
    uow.commit()
    return shipment_out(uow.session, shipment)


@router.post(
    "/supplies/shipments/{shipment_id}/cancel",
    response_model=ShipmentOut,
    summary="到着前の出荷を取消（拠点へ戻す） / cancel a shipment before it arrives (back to "
    "the depot)",
)
def cancel(shipment_id: Id, uow: UoW, principal: Shipper) -> ShipmentOut:
    shipment = service.cancel(
        uow.session, shipment_id, reach_of(uow.session, principal), actor=principal.username
    )
    uow.commit()
    return shipment_out(uow.session, shipment)


def donation_out(session: Session, found: DonationOffer) -> DonationOut:
    lines = service.donation_lines(session, found.id)
    ids = [line.item_id for line in lines]
    codes = {
        item.id: item.code
        for item in session.execute(select(Item).where(Item.id.in_(ids))).scalars()
    }
    return DonationOut(
        id=found.id,
        donor=found.donor,
        contact=found.contact,
        status=found.status,
        note=found.note,
        offered_at=found.offered_at,
        recorded_by=found.recorded_by,
        decided_at=found.decided_at,
        decided_by=found.decided_by,
        decision_note=found.decision_note,
        movement_id=found.movement_id,
        lines=[
            DonationLineOut(
                item_id=line.item_id,
                item_code=codes[line.item_id],
                quantity=line.quantity,
                expires_on=line.expires_on,
            )
            for line in lines
        ],
    )


@router.post(
    "/supplies/donations",
    response_model=DonationOut,
    status_code=status.HTTP_201_CREATED,
    summary="寄付の申し出を記録（同じIDの再送は最初の記録） / record an unsolicited donation "
    "offer (a resend of its id answers the first record)",
    responses={
        200: {
            "model": DonationOut,
            "description": "この申し出IDは同じ内容で記録済み / a resend: the first record",
        }
    },
)
def offer(body: DonationIn, uow: UoW, principal: StaffWriter, response: Response) -> DonationOut:
    offered = service.offer(uow.session, body, actor=principal.username)
    uow.commit()
    if not offered.created:
        response.status_code = status.HTTP_200_OK
    return donation_out(uow.session, offered.offer)


@router.get("/supplies/donations", response_model=list[DonationOut], summary="寄付の申し出")
def list_donations(uow: UoW, principal: StaffReader) -> list[DonationOut]:
    return [donation_out(uow.session, found) for found in service.donations(uow.session)]


@router.post(
    "/supplies/donations/{offer_id}/accept", response_model=DonationOut, summary="受入決定"
)
def accept(offer_id: Id, body: DecisionIn, uow: UoW, principal: StaffWriter) -> DonationOut:
    found = service.decide(uow.session, offer_id, True, body.note, actor=principal.username)
    uow.commit()
    return donation_out(uow.session, found)


@router.post("/supplies/donations/{offer_id}/decline", response_model=DonationOut, summary="辞退")
def decline(offer_id: Id, body: DecisionIn, uow: UoW, principal: StaffWriter) -> DonationOut:
    found = service.decide(uow.session, offer_id, False, body.note, actor=principal.username)
    uow.commit()
    return donation_out(uow.session, found)


@router.post(
    "/supplies/donations/{offer_id}/receive",
    response_model=DonationOut,
    summary="受入決定した寄付を拠点に受け入れる（在庫の受入） / receive accepted goods into a depot",
)
def receive_donation(
    offer_id: Id, body: DonationReceiptIn, uow: UoW, principal: Shipper
) -> DonationOut:
    found = service.receive_donation(
        uow.session, offer_id, body, reach_of(uow.session, principal), actor=principal.username
    )
    uow.commit()
    return donation_out(uow.session, found)
