"""HTTP routes of check-ins, check-outs and occupancy. Thin: the service decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from supplies.access import (
    Directory,
    ShelterReader,
    ShelterWorker,
    audience_of,
    may_read_care_notes,
    reach_of,
)
from supplies.evacuees import service
from supplies.evacuees.schemas import (
    CheckInIn,
    CheckOutIn,
    OccupancyHistoryOut,
    OccupancyOut,
    OccupancyPoint,
    StayOut,
    stay_out,
)
from supplies.places import service as places
from yui.errors import InvalidInput
from yui.http.deps import UoW

router = APIRouter(tags=["relief supplies"])

ShelterRef = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9-]{1,36}$", description="避難所ID またはコード")
]
#: the longest occupancy history one request draws (a month by the hour)
MAX_POINTS = 24 * 31


def _occupancy_out(occupancy: service.Occupancy) -> OccupancyOut:
    shelter = occupancy.shelter
    return OccupancyOut(
        shelter_id=shelter.id,
        shelter_code=shelter.code,
        name=shelter.name,
        is_open=shelter.is_open,
        people=occupancy.people,
        stays=occupancy.stays,
        capacity_day=shelter.capacity_day,
        capacity_night=shelter.capacity_night,
        over_capacity_night=occupancy.people > shelter.capacity_night,
        makeup=occupancy.makeup,
    )


@router.post(
    "/supplies/shelters/{shelter}/check-ins",
    response_model=StayOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": StayOut, "description": "この受付IDは記録済み / a resend"},
        503: {
            "description": "安否確認への記録に失敗、何も記録せず。同じ受付を再送 / the sign of "
            "life failed, nothing written: resend the same check-in (Retry-After)"
        },
    },
    summary="避難所の受付（住民は住民記録で確認、安否確認に通知） / check in (a resident is "
    "looked up in the registry and counted as a sign of life)",
)
def check_in(
    shelter: ShelterRef,
    body: CheckInIn,
    uow: UoW,
    principal: ShelterWorker,
    directory: Directory,
    response: Response,
) -> StayOut:
    checked_in = service.check_in(
        uow,
        directory,
        shelter,
        body,
        actor=principal.username,
        audience=audience_of(principal),
        may_write_care_notes=may_read_care_notes(principal),
        reach_of=lambda session: reach_of(session, principal),
    )
    uow.commit()
    if not checked_in.created:
        response.status_code = status.HTTP_200_OK
    return stay_out(checked_in.stay, with_care_note=may_read_care_notes(principal))


@router.post(
    "/supplies/shelters/{shelter}/check-outs",
    response_model=StayOut,
    summary="退所（チェックインしていない人は不可） / check out (only someone checked in here)",
)
def check_out(shelter: ShelterRef, body: CheckOutIn, uow: UoW, principal: ShelterWorker) -> StayOut:
    place = places.shelter(uow.session, shelter, reach_of(uow.session, principal))
    stay = service.check_out(uow.session, place, body, actor=principal.username)
    uow.commit()
    return stay_out(stay, with_care_note=may_read_care_notes(principal))


@router.get(
    "/supplies/shelters/occupancy",
    response_model=list[OccupancyOut],
    summary="避難所ごとの現在の避難者数と配慮の内訳（件数のみ） / people now and their make-up",
)
def all_occupancy(uow: UoW, principal: ShelterReader) -> list[OccupancyOut]:
    reach = reach_of(uow.session, principal)
    shelters = places.listed(uow.session, reach, kind="shelter")
    return [_occupancy_out(o) for o in service.occupancies(uow.session, shelters)]


@router.get(
    "/supplies/shelters/{shelter}/occupancy",
    response_model=OccupancyOut,
    summary="避難所の現在の避難者数と配慮の内訳 / one shelter's people now and their make-up",
)
def occupancy(shelter: ShelterRef, uow: UoW, principal: ShelterReader) -> OccupancyOut:
    place = places.shelter(uow.session, shelter, reach_of(uow.session, principal))
    return _occupancy_out(service.occupancies(uow.session, [place])[0])


@router.get(
    "/supplies/shelters/{shelter}/occupancy/history",
    response_model=OccupancyHistoryOut,
    summary="避難者数の推移 / occupancy over time",
)
def occupancy_history(
    shelter: ShelterRef,
    uow: UoW,
    principal: ShelterReader,
    since: Annotated[
        datetime | None, Query(description="既定: 24 時間前 / default 24 h ago")
    ] = None,
    until: Annotated[datetime | None, Query(description="既定: 今 / default now")] = None,
    step_minutes: Annotated[int, Query(ge=5, le=1440)] = 60,
) -> OccupancyHistoryOut:
    place = places.shelter(uow.session, shelter, reach_of(uow.session, principal))
    end = until or datetime.now(UTC)
    start = since or end - timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("時刻にはタイムゾーンが必要です / give times with their zone")
    step = timedelta(minutes=step_minutes)
    if end < start or (end - start) / step > MAX_POINTS:
        raise InvalidInput(
            f"期間が正しくないか長すぎます（最大 {MAX_POINTS} 点） / the range is reversed or "
            f"longer than {MAX_POINTS} steps"
        )
    points = service.history(uow.session, place.id, since=start, until=end, step=step)
    return OccupancyHistoryOut(
        shelter_id=place.id,
        points=[OccupancyPoint(at=at, people=people) for at, people in points],
        peak=max((people for _, people in points), default=0),
    )


@router.get(
    "/supplies/shelters/{shelter}/stays",
    response_model=list[StayOut],
    summary="受付の一覧（支援の詳細は職員のみ） / the stays (care notes: staff only)",
)
def list_stays(
    shelter: ShelterRef,
    uow: UoW,
    principal: ShelterReader,
    open_only: Annotated[bool, Query(alias="open")] = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[StayOut]:
    place = places.shelter(uow.session, shelter, reach_of(uow.session, principal))
    with_notes = may_read_care_notes(principal)
    return [
        stay_out(stay, with_care_note=with_notes)
        for stay in service.stays(uow.session, place.id, open_only=open_only, limit=limit)
    ]
