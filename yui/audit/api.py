from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from yui.audit import service
from yui.audit.models import AuditEntry
from yui.audit.schemas import AuditEntryOut, VerifyOut
from yui.auth.models import Role
from yui.auth.service import Principal
from yui.http.deps import UoW, require

router = APIRouter(tags=["audit"])
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]


@router.get("/audit", response_model=list[AuditEntryOut], summary="監査ログ / audit log")
def read_log(
    uow: UoW,
    _: Reader,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    rows = uow.session.execute(
        select(AuditEntry).where(AuditEntry.n > after).order_by(AuditEntry.n).limit(limit)
    ).scalars()
    return [AuditEntryOut.model_validate(row) for row in rows]


@router.get("/audit/verify", response_model=VerifyOut, summary="監査ログの検証 / verify the chain")
def verify(uow: UoW, _: Reader) -> VerifyOut:
    result = service.verify(uow.session)
    return VerifyOut(
        ok=result.ok, entries=result.entries, problem=result.problem, first_bad_n=result.first_bad_n
    )
