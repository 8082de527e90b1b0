"""HTTP routes of the citizens' search: public (no sign-in), rate-limited, audited.

- `POST /safety/v1/search` (any site): every municipality the platform serves;
- `POST /api/v1/{tenant}/safety/search`: one municipality (what the first asks of each).

A search is a POST so that the name and birth date never appear in a URL or a log.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from safety_check.access import Directory
from safety_check.search import fanout, limits, service
from safety_check.search.schemas import SearchAnswer, SearchIn, TenantAnswer
from yui.http.deps import Context, UoW

#: mounted under /api/v1/{tenant}
router = APIRouter(tags=["safety confirmation: citizens' search"])
#: mounted at the site's root
public_router = APIRouter(tags=["safety confirmation: citizens' search"])

SEARCH_NOTE = (
    "ログイン不要。氏名（姓名とも、漢字またはカナ）と生年月日が一致する人の、最小限の安否と"
    "その時刻だけを返します（住所・電話・避難所は返しません。DV 等支援措置の対象者は見つかり"
    "ません）。検索は監査記録に残り、利用者ごとに回数が制限されます / no sign-in; answers only "
    "a minimal status and its time for people whose full name and birth date match; audited "
    "and rate-limited per client"
)


@router.post(
    "/safety/search",
    response_model=TenantAnswer,
    summary="この自治体で家族の安否を探す / search one municipality for a family member",
    description=SEARCH_NOTE,
)
def search_tenant(
    body: SearchIn, request: Request, uow: UoW, directory: Directory, context: Context
) -> TenantAnswer:
    client = limits.take(request, f"tenant:{uow.tenant}")
    answer = service.search(uow, directory, context.db, body.name, body.birth_date, client=client)
    uow.commit()
    return answer


@public_router.post(
    "/safety/v1/search",
    response_model=SearchAnswer,
    summary="すべての自治体で家族の安否を探す / search every municipality for a family member",
    description=SEARCH_NOTE,
)
async def search_everywhere(body: SearchIn, request: Request) -> SearchAnswer:
    client = limits.take(request, "all")
    tenants = fanout.platform_tenants(request)
    found, unavailable = await fanout.ask_every_tenant(request, body, tenants, client=client)
    return SearchAnswer(
        found=found, asked=len(tenants), unavailable=unavailable, at=datetime.now(UTC)
    )
