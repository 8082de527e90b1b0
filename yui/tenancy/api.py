from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from yui.auth.service import Principal
from yui.http.deps import Context, Tenant, authenticated
from yui.tenancy.schemas import TenantOut
from yui.tenancy.service import get_tenant

router = APIRouter(tags=["tenancy"])


@router.get("", response_model=TenantOut, summary="この自治体 / this municipality")
def read_tenant(
    tenant: Tenant, context: Context, _: Annotated[Principal, Depends(authenticated)]
) -> TenantOut:
    row = get_tenant(context.db, tenant)
    return TenantOut(
        code=row.tenant_id, name=row.name, prefecture=row.prefecture, created_at=row.created_at
    )
