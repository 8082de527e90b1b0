"""HTTP routes of PFIF: export (1.4) and import (1.2–1.4), for staff and administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from safety_check.access import Directory
from safety_check.pfif import service
from yui.auth.models import Role
from yui.auth.service import Principal
from yui.http.deps import Context, Tenant, UoW, require

router = APIRouter(tags=["safety confirmation: PFIF"])

PfifOperator = Annotated[Principal, Depends(require(Role.STAFF, Role.ADMIN))]
DomainQuery = Annotated[
    str,
    Query(
        pattern=r"^[a-z0-9.-]{3,100}$",
        description="この自治体の記録IDのドメイン（既定 <tenant>.residents.yui） / this "
        "municipality's record-id domain (default <tenant>.residents.yui)",
    ),
]


class ImportOut(BaseModel):
    version: str
    persons_created: int
    persons_replaced: int
    persons_kept: int
    notes_created: int
    notes_kept: int
    own_records: int


@router.get(
    "/safety/pfif/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    summary="PFIF 1.4 の人物と記録（DV 等支援措置の対象者は含まない、監査） / PFIF 1.4 persons "
    "and notes (never a DV-blocked resident; audited)",
)
def export_pfif(
    tenant: Tenant,
    context: Context,
    principal: PfifOperator,
    directory: Directory,
    domain: DomainQuery = "",
) -> StreamingResponse:
    plan = service.plan_export(
        context.db,
        directory,
        tenant,
        domain=domain or service.home_domain(tenant),
        actor=principal.username,
    )
    return StreamingResponse(
        service.write_export(plan),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="safety-{tenant}.pfif.xml"'},
    )


@router.post(
    "/safety/pfif/import",
    response_model=ImportOut,
    summary="PFIF 1.2–1.4 の取り込み（記録IDとドメインで照合、全体か無か） / import PFIF "
    "1.2–1.4 (matched by record id and domain; whole or nothing)",
)
def import_pfif(
    body: Annotated[bytes, Body(media_type="application/xml")],
    uow: UoW,
    principal: PfifOperator,
    domain: DomainQuery = "",
) -> Any:
    counts = service.import_pfif(
        uow.session,
        body,
        domain=domain or service.home_domain(uow.tenant or ""),
        actor=principal.username,
    )
    uow.commit()
    return ImportOut(**counts.__dict__)
