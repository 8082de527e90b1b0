"""HTTP routes of needs and the standards table. Thin: the service decides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from supplies.access import ShelterReader, StaffReader, StaffWriter, reach_of
from supplies.needs import service
from supplies.needs.schemas import NeedsOut, StandardIn, StandardOut
from supplies.places import service as places
from supplies.stock.service import local_date
from yui.errors import InvalidInput
from yui.http.deps import UoW
from yui.text import CalendarDate, LineText

router = APIRouter(tags=["relief supplies"])


@router.get(
    "/supplies/needs",
    response_model=NeedsOut,
    summary="避難所ごとの必要量と不足（開設中の避難所、基準表による） / needs and shortfalls "
    "per open shelter and in total, by the standards table",
)
def needs(
    uow: UoW,
    principal: ShelterReader,
    on: Annotated[
        CalendarDate | None, Query(description="計画する日（既定: 今日） / the day")
    ] = None,
    days: Annotated[int, Query(ge=1, le=30, description="何日分 / days of supply")] = 1,
    shelter: Annotated[LineText, Query(max_length=36)] | None = None,
    at: Annotated[
        AwareDatetime | None,
        Query(
            description="この時刻の避難者数から計算（既定: 今。在庫は今日の在庫） / from the "
            "occupancy as it was at this moment (default: now; the stock is today's)"
        ),
    ] = None,
) -> NeedsOut:
    reach = reach_of(uow.session, principal)
    received = datetime.now(UTC)
    if at is not None and at > received:
        raise InvalidInput("未来の時刻です / the time is in the future")
    if shelter is not None:
        shelters = [places.shelter(uow.session, shelter, reach)]
    else:
        # at a past moment, a shelter closed since may have held people: each shelter counts
        shelters = [
            s
            for s in places.listed(uow.session, reach, kind="shelter")
            if s.is_open or at is not None
        ]
    day = on or local_date(at or received)
    return service.needs(uow.session, shelters, on=day, days=days, at=at)


@router.get(
    "/supplies/standards",
    response_model=list[StandardOut],
    summary="基準表（スフィア基準・内閣府指針、自治体の設定値） / the standards table",
)
def standards(uow: UoW, principal: StaffReader) -> list[StandardOut]:
    return service.standards_table(uow.session)


@router.put(
    "/supplies/standards/{key}",
    response_model=list[StandardOut],
    summary="基準の値を自治体として設定 / set this municipality's value of a standard",
)
def set_standard(
    key: Annotated[str, Path(pattern=r"^[a-z0-9_]{1,40}$")],
    body: StandardIn,
    uow: UoW,
    principal: StaffWriter,
) -> list[StandardOut]:
    service.set_standard(uow.session, key, body.value, actor=principal.username)
    uow.commit()
    return service.standards_table(uow.session)
