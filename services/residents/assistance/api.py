"""HTTP routes of the needs-assistance register (避難行動要支援者名簿)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from residents.access import StaffReader, StaffWriter
from residents.assistance import service
from residents.assistance.schemas import (
    AssistanceIn,
    AssistanceOut,
    RegisterEntryOut,
    assistance_out,
    register_entry_out,
)
from residents.registry.api import ResidentId
from yui.http.deps import UoW

router = APIRouter(tags=["needs assistance"])


@router.put(
    "/residents/{resident_id}/assistance",
    response_model=AssistanceOut,
    summary="要支援者として登録・更新 / add to or update in the needs-assistance register",
)
def set_entry(
    resident_id: ResidentId, body: AssistanceIn, uow: UoW, principal: StaffWriter
) -> AssistanceOut:
    entry, supporters = service.set_entry(uow.session, resident_id, body, actor=principal.username)
    uow.commit()
    return assistance_out(entry, supporters)


@router.get(
    "/residents/{resident_id}/assistance",
    response_model=AssistanceOut,
    summary="要支援者の登録内容（監査記録あり） / a resident's entry (audited)",
)
def read_entry(resident_id: ResidentId, uow: UoW, principal: StaffReader) -> AssistanceOut:
    entry, supporters = service.read_entry(uow.session, resident_id, actor=principal.username)
    uow.commit()
    return assistance_out(entry, supporters)


@router.delete(
    "/residents/{resident_id}/assistance",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="名簿から外す / remove from the register",
)
def remove_entry(resident_id: ResidentId, uow: UoW, principal: StaffWriter) -> Response:
    service.remove_entry(uow.session, resident_id, actor=principal.username)
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/assistance",
    response_model=list[RegisterEntryOut],
    summary="避難行動要支援者名簿（職員用、監査記録あり） / the register, for staff (audited)",
)
def register_list(
    uow: UoW,
    principal: StaffReader,
    shareable: Annotated[
        bool,
        Query(
            description="支援者に渡せる名簿だけ（DV等支援措置と未同意を除く） / only what may be shared"
        ),
    ] = False,
    disaster: Annotated[
        bool, Query(description="災害時: 同意のない人も含める / in a disaster, without consent too")
    ] = False,
) -> list[RegisterEntryOut]:
    listed = service.register_list(uow.session, non_staff=shareable, disaster=disaster)
    service.audit_list(
        uow.session,
        actor=principal.username,
        non_staff=shareable,
        disaster=disaster,
        count=len(listed),
    )
    uow.commit()
    return [register_entry_out(item.entry, item.resident, item.supporters) for item in listed]
