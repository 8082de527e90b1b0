"""HTTP routes of the registry: residents, their 異動, households. Thin: the service decides."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from residents.access import StaffReader, StaffWriter
from residents.registry import service
from residents.registry.fields import today
from residents.registry.schemas import (
    DvBlockIn,
    HouseholdMoveIn,
    HouseholdOut,
    MoveIn,
    MoveOut,
    Occupant,
    OccupantsOut,
    ResidentIn,
    ResidentOut,
    ResidentPatch,
    member_out,
    move_out,
    resident_out,
)
from yui.http.deps import UoW
from yui.text import CalendarDate, LineText

router = APIRouter(tags=["residents"])

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ResidentId = Annotated[str, Path(pattern=UUID_PATTERN, description="住民ID / resident id")]
HouseholdId = Annotated[str, Path(pattern=UUID_PATTERN, description="世帯ID / household id")]


def _out(uow: UoW, resident_id: str) -> ResidentOut:
    resident = service.get(uow.session, resident_id)
    return resident_out(
        resident,
        service.household_of(uow.session, resident),
        needs_assistance=service.needs_assistance(uow.session, resident.id),
    )


@router.post(
    "/residents",
    response_model=ResidentOut,
    status_code=status.HTTP_201_CREATED,
    summary="転入・出生の記録 / register a resident (move-in or birth)",
)
def register(body: ResidentIn, uow: UoW, principal: StaffWriter) -> ResidentOut:
    resident = service.register(uow.session, body, actor=principal.username)
    uow.commit()
    return _out(uow, resident.id)


@router.get(
    "/residents/{resident_id}",
    response_model=ResidentOut,
    summary="住民の詳細（監査記録あり） / a resident's details (audited)",
)
def read(resident_id: ResidentId, uow: UoW, principal: StaffReader) -> ResidentOut:
    resident = service.read(uow.session, resident_id, actor=principal.username)
    out = resident_out(
        resident,
        service.household_of(uow.session, resident),
        needs_assistance=service.needs_assistance(uow.session, resident.id),
    )
    uow.commit()
    return out


@router.patch(
    "/residents/{resident_id}",
    response_model=ResidentOut,
    summary="記載事項の修正 / correct names, contact details or language",
)
def update(
    resident_id: ResidentId, body: ResidentPatch, uow: UoW, principal: StaffWriter
) -> ResidentOut:
    service.update(uow.session, resident_id, body, actor=principal.username)
    uow.commit()
    return _out(uow, resident_id)


@router.get(
    "/residents/{resident_id}/moves",
    response_model=list[MoveOut],
    summary="異動履歴（監査記録あり） / a resident's history of moves (audited)",
)
def history(resident_id: ResidentId, uow: UoW, principal: StaffReader) -> list[MoveOut]:
    service.read(uow.session, resident_id, actor=principal.username, purpose="moves")
    out = [move_out(move) for move in service.moves(uow.session, resident_id)]
    uow.commit()
    return out


@router.post(
    "/residents/{resident_id}/moves",
    response_model=MoveOut,
    status_code=status.HTTP_201_CREATED,
    summary="異動の記録（転居・転出・死亡・世帯変更・再転入） / record a move",
)
def record_move(resident_id: ResidentId, body: MoveIn, uow: UoW, principal: StaffWriter) -> MoveOut:
    move = service.record_move(uow.session, resident_id, body, actor=principal.username)
    uow.commit()
    return move_out(move)


@router.put(
    "/residents/{resident_id}/dv-block",
    response_model=ResidentOut,
    summary="DV等支援措置の設定・解除 / set or lift a DV-support block",
)
def dv_block(
    resident_id: ResidentId, body: DvBlockIn, uow: UoW, principal: StaffWriter
) -> ResidentOut:
    service.set_dv_block(uow.session, resident_id, body, actor=principal.username)
    uow.commit()
    return _out(uow, resident_id)


@router.get(
    "/households/{household_id}",
    response_model=HouseholdOut,
    summary="世帯と世帯員（監査記録あり） / a household and its members (audited)",
)
def read_household(household_id: HouseholdId, uow: UoW, principal: StaffReader) -> HouseholdOut:
    found, people = service.read_household(uow.session, household_id, actor=principal.username)
    uow.commit()
    head = next((person.id for person in people if person.relationship == "世帯主"), None)
    return HouseholdOut(
        id=found.id,
        household_no=found.household_no,
        head_id=head,
        members=[member_out(person) for person in people],
    )


@router.post(
    "/households/{household_id}/moves",
    response_model=list[MoveOut],
    status_code=status.HTTP_201_CREATED,
    summary="世帯全員の転居 / relocate every member of a household",
)
def move_household(
    household_id: HouseholdId, body: HouseholdMoveIn, uow: UoW, principal: StaffWriter
) -> list[MoveOut]:
    moves = service.move_household(uow.session, household_id, body, actor=principal.username)
    uow.commit()
    return [move_out(move) for move in moves]


def _occupants(on: date, found: list[service.Occupancy]) -> OccupantsOut:
    return OccupantsOut(
        on=on,
        occupants=[
            Occupant(
                resident_id=item.resident.id,
                resident_no=item.resident.resident_no,
                family_name=item.resident.family_name,
                given_name=item.resident.given_name,
                family_kana=item.resident.family_kana,
                given_kana=item.resident.given_kana,
                birth_date=item.resident.birth_date,
                household_id=item.household_id,
                relationship=item.relationship,
                address=item.address,
                since=item.since,
                until=item.until,
            )
            for item in found
        ],
    )


@router.get(
    "/households/{household_id}/members",
    response_model=OccupantsOut,
    summary="ある日の世帯員 / who was in this household on a date (audited)",
)
def household_on(
    household_id: HouseholdId,
    uow: UoW,
    principal: StaffReader,
    on: Annotated[CalendarDate | None, Query(description="基準日 (default: today)")] = None,
) -> OccupantsOut:
    day = on or today()
    found = service.occupants_of_household(uow.session, household_id, on=day)
    service.audit_occupants(uow.session, principal.username, "household", household_id, day, found)
    uow.commit()
    return _occupants(day, found)


@router.get(
    "/addresses/occupants",
    response_model=OccupantsOut,
    summary="ある日にその住所に住んでいた人 / who lived at an address on a date (audited)",
)
def address_on(
    uow: UoW,
    principal: StaffReader,
    town: Annotated[
        LineText, Query(min_length=1, max_length=80, description="町字, e.g. 一番町一丁目")
    ],
    block: Annotated[LineText, Query(max_length=40, description="番地, e.g. 2-3")] = "",
    building: Annotated[LineText | None, Query(max_length=80, description="方書")] = None,
    on: Annotated[CalendarDate | None, Query(description="基準日 (default: today)")] = None,
) -> OccupantsOut:
    day = on or today()
    found = service.occupants_of_address(uow.session, town, block, on=day, building=building)
    service.audit_occupants(
        uow.session, principal.username, "address", f"{town}{block}", day, found
    )
    uow.commit()
    return _occupants(day, found)
