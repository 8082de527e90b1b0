"""GET /residents: the staff search (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from residents.access import StaffReader
from residents.registry.schemas import resident_summary
from residents.search import service
from residents.search.schemas import SearchPage, SearchQuery
from yui.http.deps import UoW

router = APIRouter(tags=["residents"])


@router.get(
    "/residents",
    response_model=SearchPage,
    summary="住民の検索（監査記録あり） / search residents (audited)",
)
def search(uow: UoW, principal: StaffReader, query: Annotated[SearchQuery, Query()]) -> SearchPage:
    page = service.search(uow.session, query, actor=principal.username)
    uow.commit()
    return SearchPage(
        items=[
            resident_summary(resident, page.household_numbers.get(resident.household_id, ""))
            for resident in page.residents
        ],
        next_cursor=page.next_cursor,
    )
