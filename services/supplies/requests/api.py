"""HTTP routes of requests, the allocation suggestion and commitments. Thin: the service
decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplies.access import (
    Reach,
    ShelterWorker,
    StaffWriter,
    StockReader,
    reach_of,
)
from supplies.catalogue.models import Item
from supplies.exchange import service as exchange
from supplies.places.models import Place
from supplies.requests import service
from supplies.requests.models import Kit, Request, Status
from supplies.requests.schemas import (
    UUID_PATTERN,
    AllocationOut,
    CancelIn,
    CommitIn,
    FreeLotOut,
    KitIn,
    KitItemOut,
    KitOut,
    LineOut,
    LinesIn,
    PickOut,
    RequestIn,
    RequestOut,
    SuggestionOut,
)
from yui.auth.models import Role
from yui.auth.service import Principal
from yui.errors import Conflict
from yui.http.deps import UoW, require
from yui.text import LineText

router = APIRouter(tags=["relief supplies"])

RequestId = Annotated[str, Path(pattern=UUID_PATTERN, description="要請ID / request id")]
#: allocates and ships: staff anywhere, a depot account from its own depots
Allocator = Annotated[Principal, Depends(require(Role.STAFF, Role.DEPOT))]
AllocationReader = Annotated[Principal, Depends(require(Role.STAFF, Role.AUDITOR, Role.DEPOT))]
KitReader = Annotated[
    Principal, Depends(require(Role.STAFF, Role.AUDITOR, Role.SHELTER, Role.DEPOT))
]


def reading_reach(session: Session, principal: Principal) -> Reach:
    """Whose requests a principal reads: a depot ships to every shelter and reads every
    request; a shelter account its own shelters' only."""
    if principal.has_any(Role.DEPOT) and not principal.has_any(Role.SHELTER):
        return Reach(everywhere=True, places=frozenset())
    return reach_of(session, principal)


def request_out(session: Session, request: Request) -> RequestOut:
    lines = service.lines_of(session, [request.id])[request.id]
    items = {item.id: item for item in _items(session, [line.item_id for line in lines])}
    return RequestOut(
        id=request.id,
        origin=request.origin,
        status=request.status,
        shelter_id=request.shelter_id,
        requester_tenant=request.requester_tenant,
        needed_by=request.needed_by,
        note=request.note,
        created_at=request.created_at,
        created_by=request.created_by,
        submitted_at=request.submitted_at,
        approved_at=request.approved_at,
        approved_by=request.approved_by,
        committed_at=request.committed_at,
        shipped_at=request.shipped_at,
        received_at=request.received_at,
        cancelled_at=request.cancelled_at,
        cancel_reason=request.cancel_reason,
        lines=[
            LineOut(
                id=line.id,
                item_id=line.item_id,
                item_code=items[line.item_id].code,
                name_ja=items[line.item_id].name_ja,
                name_en=items[line.item_id].name_en,
                unit_ja=items[line.item_id].unit_ja,
                requested=line.requested,
                vulnerable=line.vulnerable,
                committed=line.committed,
                shipped=line.shipped,
                received=line.received,
                short=line.short,
            )
            for line in lines
        ],
        allocations=[
            AllocationOut(
                line_id=a.line_id,
                place_id=a.place_id,
                lot_id=a.lot_id,
                quantity=a.quantity,
                rule=a.rule,
                explanation=a.explanation,
                shipped=a.shipment_id is not None,
            )
            for a in service.allocations_of(session, [request.id])[request.id]
        ],
    )


def _items(session: Session, ids: list[str]) -> list[Item]:
    return list(session.execute(select(Item).where(Item.id.in_(ids))).scalars()) if ids else []


@router.post(
    "/supplies/requests",
    response_model=RequestOut,
    status_code=status.HTTP_201_CREATED,
    summary="避難所の要請を作成（下書き、または提出。同じIDの再送は最初の要請） / a shelter's "
    "request (draft or submitted; a resend of its id answers the first request)",
    responses={
        200: {
            "model": RequestOut,
            "description": "この要請IDは同じ内容で作成済み（最初の要請） / a resend: the first request",
        }
    },
)
def create_request(
    body: RequestIn, uow: UoW, principal: ShelterWorker, response: Response
) -> RequestOut:
    made = service.create(
        uow.session, body, reach_of(uow.session, principal), actor=principal.username
    )
    uow.commit()
    if not made.created:
        response.status_code = status.HTTP_200_OK
    return request_out(uow.session, made.request)


@router.get(
    "/supplies/requests",
    response_model=list[RequestOut],
    summary="要請の一覧（避難所の役割は自分の避難所の分だけ） / requests (a shelter: its own)",
)
def list_requests(
    uow: UoW,
    principal: StockReader,
    state: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[RequestOut]:
    reach = reading_reach(uow.session, principal)
    return [
        request_out(uow.session, request)
        for request in service.listed(uow.session, reach, status=state, limit=limit)
    ]


@router.get(
    "/supplies/requests/{request_id}", response_model=RequestOut, summary="要請 / a request"
)
def read_request(request_id: RequestId, uow: UoW, principal: StockReader) -> RequestOut:
    reach = reading_reach(uow.session, principal)
    return request_out(uow.session, service.get(uow.session, request_id, reach))


@router.post(
    "/supplies/requests/{request_id}/lines",
    response_model=RequestOut,
    summary="下書きに明細を追加 / add lines to a draft",
)
def add_lines(
    request_id: RequestId, body: LinesIn, uow: UoW, principal: ShelterWorker
) -> RequestOut:
    request = service.get(uow.session, request_id, reach_of(uow.session, principal))
    service.add_lines(uow.session, request, body.lines)
    uow.commit()
    return request_out(uow.session, request)


@router.post(
    "/supplies/requests/{request_id}/submit",
    response_model=RequestOut,
    summary="要請を提出 / submit a request",
)
def submit(request_id: RequestId, uow: UoW, principal: ShelterWorker) -> RequestOut:
    request = service.get(uow.session, request_id, reach_of(uow.session, principal))
    service.transition(uow.session, request, Status.SUBMITTED, actor=principal.username)
    uow.commit()
    return request_out(uow.session, request)


@router.post(
    "/supplies/requests/{request_id}/approve",
    response_model=RequestOut,
    summary="要請を承認（職員のみ） / approve a request (staff only)",
)
def approve(request_id: RequestId, uow: UoW, principal: StaffWriter) -> RequestOut:
    request = service.get(uow.session, request_id, reach_of(uow.session, principal))
    service.transition(uow.session, request, Status.APPROVED, actor=principal.username)
    uow.commit()
    return request_out(uow.session, request)


@router.post(
    "/supplies/requests/{request_id}/cancel",
    response_model=RequestOut,
    summary="要請を取消（出荷前まで。避難所は承認前まで） / cancel a request (before it ships; "
    "a shelter: before approval)",
)
def cancel(request_id: RequestId, body: CancelIn, uow: UoW, principal: ShelterWorker) -> RequestOut:
    request = service.get(uow.session, request_id, reach_of(uow.session, principal))
    if not principal.has_any(Role.STAFF) and Status(request.status) not in (
        Status.DRAFT,
        Status.SUBMITTED,
    ):
        raise Conflict(
            "承認後の要請は職員だけが取り消せます / once approved, only staff cancel a request"
        )
    service.transition(
        uow.session, request, Status.CANCELLED, actor=principal.username, reason=body.reason
    )
    uow.commit()
    return request_out(uow.session, request)


@router.get(
    "/supplies/allocation",
    response_model=list[SuggestionOut],
    summary="承認済み要請への配分案（理由つき） / the allocation suggestion for approved "
    "requests, each line with its rule",
)
def suggestion(uow: UoW, principal: AllocationReader) -> list[SuggestionOut]:
    session = uow.session
    suggested = service.suggest(session)
    codes = {p.id: p.code for p in session.execute(select(Place)).scalars()}
    return [
        SuggestionOut(
            request_id=s.request.id,
            line_id=s.line.id,
            shelter_id=s.request.shelter_id,
            item_code=s.item.code,
            open=s.line.requested - s.line.committed,
            vulnerable=s.suggestion.vulnerable * s.scale,
            allocated=s.suggestion.allocated * s.scale,
            rule=s.suggestion.rule.value,
            explanation=s.suggestion.explanation,
            picks=[
                PickOut(
                    place_id=pick.depot_id,
                    place_code=codes.get(pick.depot_id, ""),
                    lot_id=pick.lot_id,
                    quantity=pick.quantity * s.scale,
                    expires_on=pick.expires.isoformat() if pick.expires else None,
                    distance_km=None if pick.distance_km is None else round(pick.distance_km, 2),
                )
                for pick in s.suggestion.picks
            ],
        )
        for s in suggested
    ]


@router.get(
    "/supplies/allocation/lots",
    response_model=list[FreeLotOut],
    summary="拠点の空き在庫（ロットごと、期限切れを除く） / the depots' free stock per lot "
    "(what a changed pick may take; never an expired lot)",
)
def free_lots(
    uow: UoW,
    principal: AllocationReader,
    item: Annotated[list[LineText], Query(max_length=200, description="品目コード / item codes")],
) -> list[FreeLotOut]:
    session = uow.session
    wanted = {i.id: i for i in session.execute(select(Item).where(Item.code.in_(item))).scalars()}
    codes = {p.id: p.code for p in session.execute(select(Place)).scalars()}
    return [
        FreeLotOut(
            place_id=lot.depot_id,
            place_code=codes.get(lot.depot_id, ""),
            item_code=wanted[lot.item_id].code,
            lot_id=lot.lot_id,
            expires_on=lot.expires.isoformat() if lot.expires else None,
            free=lot.quantity * service.scale_of(wanted[lot.item_id]),
        )
        for lot in service.available_lots(session)
        if lot.item_id in wanted
    ]


@router.post(
    "/supplies/allocation/commit",
    response_model=list[RequestOut],
    summary="配分案を確定、または変更して確定 / confirm the suggestion or commit changed picks",
)
def commit(body: CommitIn, uow: UoW, principal: Allocator) -> list[RequestOut]:
    committed = service.commit(
        uow.session, body, reach_of(uow.session, principal), actor=principal.username
    )
    for request in committed:
        # a request from another municipality is answered with a CommitResource
        exchange.reply_commit(uow, principal.tenant, request, actor=principal.username)
    uow.commit()
    return [request_out(uow.session, request) for request in committed]


@router.get("/supplies/kits", response_model=list[KitOut], summary="セット一覧 / kits")
def list_kits(uow: UoW, principal: KitReader) -> list[KitOut]:
    return [kit_out(uow.session, kit.id) for kit in service.kits(uow.session)]


@router.post(
    "/supplies/kits",
    response_model=KitOut,
    status_code=status.HTTP_201_CREATED,
    summary="セットを登録 / add a kit",
)
def add_kit(body: KitIn, uow: UoW, principal: StaffWriter) -> KitOut:
    kit = service.add_kit(uow.session, body, actor=principal.username)
    uow.commit()
    return kit_out(uow.session, kit.id)


def kit_out(session: Session, kit_id: str) -> KitOut:
    kit = session.get(Kit, kit_id)
    assert kit is not None
    contents = service.kit_items(session, kit.id)
    items = {item.id: item for item in _items(session, [c.item_id for c in contents])}
    return KitOut(
        id=kit.id,
        code=kit.code,
        name=kit.name,
        items=[KitItemOut(item_code=items[c.item_id].code, quantity=c.quantity) for c in contents],
    )
