"""HTTP routes of places (depots and shelters). Thin: the service decides."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from supplies.access import (
    AnyReader,
    Reach,
    ShelterWorker,
    StaffReader,
    StaffWriter,
    reach_of,
)
from supplies.evacuees import service as evacuees
from supplies.places import service
from supplies.places.schemas import (
    AssignmentIn,
    AssignmentOut,
    PlaceFields,
    PlaceIn,
    PlaceOut,
    place_out,
)
from yui.auth.models import Role
from yui.http.deps import UoW
from yui.text import LineText

router = APIRouter(tags=["relief supplies"])

PlaceRef = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9-]{1,36}$", description="場所ID または場所コード / place id or code"),
]


@router.get(
    "/supplies/places",
    response_model=list[PlaceOut],
    summary="場所（倉庫・拠点・避難所）の一覧（避難所の役割は自分の避難所だけ） / depots and "
    "shelters (a shelter account: its own)",
)
def list_places(
    uow: UoW,
    principal: AnyReader,
    kind: Annotated[Literal["", "depot", "shelter"], Query()] = "",
) -> list[PlaceOut]:
    reach = reach_of(uow.session, principal)
    if principal.has_any(Role.DEPOT) and not principal.has_any(Role.SHELTER):
        # a depot ships to every place: it reads the whole list (names, addresses, contacts)
        reach = Reach(everywhere=True, places=frozenset())
    return [place_out(place) for place in service.listed(uow.session, reach, kind=kind)]


@router.post(
    "/supplies/places",
    response_model=PlaceOut,
    status_code=status.HTTP_201_CREATED,
    summary="倉庫・拠点・避難所を登録 / add a depot or a shelter",
)
def add_place(body: PlaceIn, uow: UoW, principal: StaffWriter) -> PlaceOut:
    place = service.add(uow.session, body, actor=principal.username)
    uow.commit()
    return place_out(place)


@router.get("/supplies/places/{place}", response_model=PlaceOut, summary="場所 / a place")
def read_place(place: PlaceRef, uow: UoW, principal: AnyReader) -> PlaceOut:
    reach = reach_of(uow.session, principal)
    return place_out(service.get(uow.session, place, reach))


@router.patch("/supplies/places/{place}", response_model=PlaceOut, summary="場所を変更 / change")
def change_place(place: PlaceRef, body: PlaceFields, uow: UoW, principal: StaffWriter) -> PlaceOut:
    changed = service.change(uow.session, place, body, actor=principal.username)
    uow.commit()
    return place_out(changed)


@router.post(
    "/supplies/shelters/{place}/open", response_model=PlaceOut, summary="避難所を開設 / open"
)
def open_shelter(place: PlaceRef, uow: UoW, principal: ShelterWorker) -> PlaceOut:
    reach = reach_of(uow.session, principal)
    opened = service.open_shelter(uow.session, place, reach, actor=principal.username)
    uow.commit()
    return place_out(opened)


@router.post(
    "/supplies/shelters/{place}/close",
    response_model=PlaceOut,
    summary="避難所を閉鎖（全員のチェックアウト後） / close (once everyone checked out)",
)
def close_shelter(place: PlaceRef, uow: UoW, principal: ShelterWorker) -> PlaceOut:
    reach = reach_of(uow.session, principal)
    shelter = service.shelter(uow.session, place, reach)
    present = evacuees.occupancy_now(uow.session, shelter.id)
    closed = service.close_shelter(
        uow.session, shelter.id, reach, actor=principal.username, present=present
    )
    uow.commit()
    return place_out(closed)


@router.get(
    "/supplies/places/{place}/assignments",
    response_model=list[AssignmentOut],
    summary="この場所を担当するアカウント / accounts that work this place",
)
def list_assignments(place: PlaceRef, uow: UoW, principal: StaffReader) -> list[AssignmentOut]:
    return [
        AssignmentOut.model_validate(a, from_attributes=True)
        for a in service.assignments(uow.session, place)
    ]


@router.post(
    "/supplies/places/{place}/assignments",
    response_model=AssignmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="アカウントを場所に割り当て / assign an account to this place",
)
def assign(place: PlaceRef, body: AssignmentIn, uow: UoW, principal: StaffWriter) -> AssignmentOut:
    assignment = service.assign(uow.session, place, body.username, actor=principal.username)
    uow.commit()
    return AssignmentOut.model_validate(assignment, from_attributes=True)


@router.delete(
    "/supplies/places/{place}/assignments/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="割り当てを外す / unassign",
)
def unassign(
    place: PlaceRef,
    username: Annotated[LineText, Path(max_length=64)],
    uow: UoW,
    principal: StaffWriter,
) -> Response:
    service.unassign(uow.session, place, username, actor=principal.username)
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
